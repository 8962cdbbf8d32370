#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// An open journal segment. Reference counted so that a reader that looked up a body
/// keeps the descriptor valid even if the segment is deleted meanwhile.
final class SegmentFile: Sendable {
    let number: Int
    let path: String
    let fd: Int32

    init(number: Int, path: String, fd: Int32) {
        self.number = number
        self.path = path
        self.fd = fd
    }

    deinit { _ = SpoolFiles.closeFD(fd) }

    static func name(_ number: Int) -> String {
        var digits = String(number)
        if digits.count < 6 { digits = String(repeating: "0", count: 6 - digits.count) + digits }
        return "segment-\(digits).log"
    }

    /// The segment number of a file name like `segment-000001.log`, or nil.
    static func number(fromName name: String) -> Int? {
        guard name.hasPrefix("segment-"), name.hasSuffix(".log") else { return nil }
        let digits = name.dropFirst("segment-".count).dropLast(".log".count)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits)
    }
}

/// Thin wrappers over the POSIX calls the spool needs; each throws a `SpoolError`
/// that names the file and the errno text.
enum SpoolFiles {
    static func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

    static func closeFD(_ fd: Int32) -> Int32 {
        #if canImport(Darwin)
        return Darwin.close(fd)
        #elseif canImport(Glibc)
        return Glibc.close(fd)
        #else
        return Musl.close(fd)
        #endif
    }

    static func makeDirectory(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o750) != 0 && errno != EEXIST {
                throw SpoolError(.open, "cannot create spool directory \(current): \(errnoText()); check permissions and free space")
            }
        }
    }

    static func openFile(_ path: String, flags: Int32, mode: mode_t = 0o640) throws -> Int32 {
        let fd = open(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw SpoolError(.open, "cannot open \(path): \(errnoText()); check that the spool directory exists and is writable")
        }
        return fd
    }

    static func openDirectory(_ path: String) throws -> Int32 {
        try openFile(path, flags: O_RDONLY | O_DIRECTORY)
    }

    /// Full sync of file data and metadata.
    static func fullSync(_ fd: Int32, path: String) throws {
        #if canImport(Darwin)
        let rc = fcntl(fd, F_FULLFSYNC)
        #else
        let rc = fsync(fd)
        #endif
        guard rc == 0 else {
            throw SpoolError(.sync, "fsync of \(path) failed: \(errnoText()); check the disk, then restart")
        }
    }

    /// Sync of file data and the metadata needed to read it back (size).
    static func dataSync(_ fd: Int32, path: String) throws {
        #if canImport(Darwin)
        try fullSync(fd, path: path)
        #else
        guard fdatasync(fd) == 0 else {
            throw SpoolError(.sync, "fdatasync of \(path) failed: \(errnoText()); check the disk, then restart")
        }
        #endif
    }

    /// Writes all of `bytes` at `offset` (retrying short writes and EINTR).
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw SpoolError(.write, "writing \(path) at offset \(offset + done) failed: \(errnoText()); free disk space or fix the disk; the messages were not acknowledged")
            }
            done += n
        }
    }

    /// Reads exactly `length` bytes at `offset` into a new buffer.
    static func readExactly(_ fd: Int32, offset: Int, length: Int, path: String) throws -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: length)
        let read = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { raw -> Int in
            var done = 0
            while done < length {
                let n = pread(fd, raw.baseAddress! + done, length - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw SpoolError(.read, "reading \(path) at offset \(offset + done) failed: \(errnoText()); check the disk")
                }
                if n == 0 { break }
                done += n
            }
            return done
        }
        guard read == length else {
            throw SpoolError(.read, "\(path) ends before offset \(offset + length); the spool file was truncated by someone else")
        }
        return buffer
    }

    static func fileSize(_ fd: Int32, path: String) throws -> Int {
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw SpoolError(.open, "cannot stat \(path): \(errnoText())")
        }
        return Int(info.st_size)
    }

    static func truncate(_ fd: Int32, to size: Int, path: String) throws {
        guard ftruncate(fd, off_t(size)) == 0 else {
            throw SpoolError(.write, "cannot truncate \(path) to \(size) bytes: \(errnoText()); check the disk")
        }
    }

    /// Names in a directory (without `.` and `..`).
    static func listDirectory(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else {
            throw SpoolError(.open, "cannot list \(path): \(errnoText())")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) {
                    String(cString: $0)
                }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Replaces `path` atomically and durably with `contents` (write temp, fsync, rename, fsync dir).
    static func writeFileAtomically(_ contents: String, to path: String, directoryFD: Int32, directory: String) throws {
        let temp = path + ".tmp"
        let fd = try openFile(temp, flags: O_WRONLY | O_CREAT | O_TRUNC)
        defer { _ = closeFD(fd) }
        let bytes = Array(contents.utf8)
        try bytes.withUnsafeBytes { try writeAll(fd, $0, at: 0, path: temp) }
        try fullSync(fd, path: temp)
        guard rename(temp, path) == 0 else {
            throw SpoolError(.write, "cannot rename \(temp) to \(path): \(errnoText())")
        }
        try fullSync(directoryFD, path: directory)
    }
}
