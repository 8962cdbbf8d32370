import Foundation
import NIOConcurrencyHelpers

/// A small JSON document in one file, shared between processes: reads are
/// cached until the file changes; updates take the file's lock, read the
/// current contents, change them and write them back atomically (mode 0600).
public struct JSONFileStore<Document: Codable & Sendable>: Sendable {
    public let path: String
    let empty: @Sendable () -> Document
    private let cache = NIOLockedValueBox<(stamp: FileStamp, document: Document)?>(nil)

    public init(path: String, empty: @escaping @Sendable () -> Document) {
        self.path = path
        self.empty = empty
    }

    /// The current document (empty when the file does not exist).
    public func read() throws -> Document {
        let stamp = FileStamp(path)
        if let stamp, let cached = cache.withLockedValue({ $0 }), cached.stamp == stamp { return cached.document }
        guard let bytes = try SecureFile.read(path) else { return empty() }
        let document = try decode(bytes)
        if let stamp { cache.withLockedValue { $0 = (stamp, document) } }
        return document
    }

    /// Changes the document under the file lock and writes it back.
    public func update<R>(_ body: (inout Document) throws -> R) throws -> R {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try SecureFile.createPrivateDirectory(directory) }
        return try FileLock.withLock(path + ".lock") {
            var document = try SecureFile.read(path).map(decode) ?? empty()
            let result = try body(&document)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            try SecureFile.write(Array(encoder.encode(document)) + [0x0A], to: path, mode: SecureFile.privateMode)
            return result
        }
    }

    private func decode(_ bytes: [UInt8]) throws -> Document {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(Document.self, from: Data(bytes))
        } catch {
            throw CPQTLSError(.invalidStore, "cannot read \(path): \(error); restore it from a backup or remove it")
        }
    }
}

/// What identifies one version of a file: inode, size and modification time.
struct FileStamp: Hashable, Sendable {
    var inode: UInt64
    var size: Int64
    var seconds: Int
    var nanoseconds: Int

    init?(_ path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        #if canImport(Darwin)
        seconds = Int(info.st_mtimespec.tv_sec)
        nanoseconds = Int(info.st_mtimespec.tv_nsec)
        #else
        seconds = Int(info.st_mtim.tv_sec)
        nanoseconds = Int(info.st_mtim.tv_nsec)
        #endif
    }
}
