import Foundation
import NIOCore
@testable import Spool

/// A temporary directory, removed (with everything in it) by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/spooltest-XXXXXX").utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard created != nil else { throw SpoolError(.open, "mkdtemp failed") }
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    var spool: String { path + "/spool" }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Runs `body` with a fresh temporary directory and removes it afterwards.
func withTemporaryDirectory<T>(_ body: (TemporaryDirectory) async throws -> T) async throws -> T {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    return try await body(directory)
}

func makeEnvelope(mid: MID, recipients: Int = 2, size: Int = 0, sender: String = "alice@example.org") -> MessageEnvelope {
    MessageEnvelope(mid: mid, icid: mid + 1000, listener: "IncomingMail", remoteAddress: "10.0.0.\(mid % 250)",
                    heloName: "mx\(mid).example.org", mailFrom: sender,
                    recipients: (0..<recipients).map { "rcpt\($0)+\(mid)@example.com" },
                    receivedAt: 1_790_000_000.5 + Double(mid), destination: "smarthost", size: size)
}

func makeBody(_ mid: MID, size: Int = 200) -> ByteBuffer {
    var buffer = ByteBufferAllocator().buffer(capacity: size)
    let header = "Subject: message \(mid)\r\n\r\n"
    buffer.writeString(header)
    var state = mid &* 0x9E37_79B9_7F4A_7C15
    while buffer.readableBytes < size {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        buffer.writeInteger(UInt8(truncatingIfNeeded: state >> 33))
    }
    return buffer
}

/// Segment files currently in `directory`, sorted.
func segmentFiles(_ directory: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("segment-") }.sorted()
}

/// Copies every regular file of `source` into a new directory `destination`: the disk state a
/// crash at this moment would leave (the spool syncs before acknowledging, so the page cache
/// holds nothing acknowledged that the disk would not).
///
/// A copy file by file is not atomic: the spool may compact (write a segment, delete an old
/// one) while it runs. A file that vanished during the copy, or a listing that changed,
/// means the copy mixed two moments; it is made again until one listing holds throughout
/// (the spool goes quiet once nothing more is written).
func snapshotDirectory(_ source: String, to destination: String) throws {
    let files = FileManager.default
    for _ in 0..<1000 {
        try? files.removeItem(atPath: destination)
        try files.createDirectory(atPath: destination, withIntermediateDirectories: true)
        let before = try files.contentsOfDirectory(atPath: source).sorted()
        var vanished = false
        for name in before {
            do {
                try files.copyItem(atPath: source + "/" + name, toPath: destination + "/" + name)
            } catch let error as CocoaError where error.code == .fileReadNoSuchFile || error.code == .fileNoSuchFile {
                vanished = true
                break
            }
        }
        if !vanished, try files.contentsOfDirectory(atPath: source).sorted() == before { return }
        usleep(10_000)
    }
    throw CocoaError(.fileReadUnknown)
}
