import GRDB
import Foundation
import Scanning
@testable import QuarantineStore

/// A temporary directory, removed with everything in it by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/quarantinestore-XXXXXX").utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard created != nil else { throw QuarantineStoreError(.open, "mkdtemp failed") }
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    var store: String { path + "/store" }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Runs `body` with a store in a fresh temporary directory; closes and removes it afterwards.
func withStore(_ options: QuarantineStoreOptions = .init(),
               _ body: (QuarantineStore, TemporaryDirectory) async throws -> Void) async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let store = try QuarantineStore.open(directory: directory.store, options: options)
    defer { try? store.close() }
    try await body(store, directory)
}

let policyHold = QuarantineTicket(quarantine: "Policy",
                                  reason: QuarantineReason(kind: .messageFilter, detail: "policy_violation"),
                                  stage: .messageFilters)
let virusHold = QuarantineTicket(quarantine: "Virus",
                                 reason: QuarantineReason(kind: .antivirus, detail: "Eicar-Test-Signature"),
                                 stage: .antivirus)
let outbreakHold = QuarantineTicket(quarantine: "Outbreak",
                                    reason: QuarantineReason(kind: .outbreak, detail: "OUTB-17", threatLevel: 4),
                                    stage: .outbreak, retentionSeconds: 3600)

func makeTransfer(_ id: String, gateway: String = "gw1.example.org", mid: UInt64 = 482,
                  holds: [QuarantineTicket] = [policyHold],
                  recipients: [String] = ["bob@example.com", "carol@example.com"]) -> IncomingTransfer {
    IncomingTransfer(transferID: id, gateway: gateway, gatewayMID: mid, gatewayICID: 12345,
                     receivedAt: Date(timeIntervalSince1970: 1_790_000_000), mailFrom: "alice@example.org",
                     recipients: recipients, holds: holds)
}

/// A message of about `size` bytes with the given subject and a Message-ID.
func makeBody(subject: String = "Quarterly report", id: String = "1", size: Int = 600) -> [UInt8] {
    var text = "From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: \(subject)\r\n"
        + "Message-ID: <\(id)@example.org>\r\nMIME-Version: 1.0\r\n\r\n"
    var line = 0
    while text.utf8.count < size {
        line += 1
        text += "Line \(line) of the body of message \(id).\r\n"
    }
    return Array(text.utf8)
}

/// Copies the store's database files (not `-shm`, which a power loss does not keep, nor
/// `lock`) into `destination`: the disk as a crash at this moment would leave it.
func snapshotStore(_ source: String, to destination: String) throws {
    try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
    for name in try FileManager.default.contentsOfDirectory(atPath: source)
    where name != "lock" && !name.hasSuffix("-shm") {
        try FileManager.default.copyItem(atPath: source + "/" + name, toPath: destination + "/" + name)
    }
}

func fileSize(_ path: String) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
}

extension QuarantineStore {
    /// `SELECT COUNT(*)` of a table, for checks on what was really written.
    func rowCount(_ table: String) async throws -> Int {
        try await database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)")! }
    }
}
