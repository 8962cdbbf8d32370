import Foundation
import QuarantineStore
import Scanning
@testable import Manager

// MARK: Helpers

/// What `onReleased` was called with.
final class ReleasedRequests: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [ReleaseRequest] = []
    func append(_ request: ReleaseRequest) { lock.lock(); values.append(request); lock.unlock() }
    var requests: [ReleaseRequest] { lock.lock(); defer { lock.unlock() }; return values }
}

/// Runs `body` over a fresh store in a temporary directory (removed after).
func withStore(_ body: (QuarantineStore, ReleasedRequests) async throws -> Void) async throws {
    var template = Array("/tmp/lzmgr-XXXXXX".utf8CString)
    guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
        throw ManagerError("mkdtemp failed")
    }
    let home = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    defer { try? FileManager.default.removeItem(atPath: home) }
    let store = try QuarantineStore.open(directory: home + "/quarantine", options: QuarantineStoreOptions(fsync: false))
    defer { try? store.close() }
    let released = ReleasedRequests()
    try await body(store, released)
}

let policyHold = QuarantineTicket(quarantine: "Policy", reason: QuarantineReason(kind: .messageFilter, detail: "policy_violation"),
                                  stage: .messageFilters)
let virusHold = QuarantineTicket(quarantine: "Virus", reason: QuarantineReason(kind: .antivirus, detail: "Eicar-Test-Signature"),
                                 stage: .antivirus)

extension QuarantineStore {
    /// Stores a transfer from gw1.example.org (MID 482, two recipients) and returns its QID.
    func add(_ transferID: String, holds: [QuarantineTicket], subject: String = "Hello") async throws -> QID {
        let transfer = IncomingTransfer(transferID: transferID, gateway: "gw1.example.org", gatewayMID: 482, gatewayICID: 12345,
                                        receivedAt: Date(timeIntervalSince1970: 1_790_000_000), mailFrom: "alice@example.org",
                                        recipients: ["bob@example.com", "carol@example.com"], holds: holds)
        let body = "From: alice@example.org\r\nSubject: \(subject)\r\nMessage-ID: <\(transferID)@example.org>\r\n\r\nbody\r\n"
        return try await storeTransfer(transfer, body: Array(body.utf8)).qid
    }
}
