#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Writes files the way keys and small stores must be written: into a new
/// temporary file created with the final mode (a key is never readable by
/// others, not even for a moment), flushed to disk, then renamed over the
/// target, so a reader sees the old file or the new one and never half of one.
public enum SecureFile {
    /// Mode of private keys and of the pairing stores.
    public static let privateMode: mode_t = 0o600
    /// Mode of certificates, which are public.
    public static let publicMode: mode_t = 0o644

    /// Writes `contents` to `path` atomically with `mode` (not subject to the umask).
    public static func write(_ contents: some Collection<UInt8>, to path: String, mode: mode_t) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let temporary = (directory.isEmpty ? "" : directory + "/") + ".\(name).\(UInt32.random(in: .min ... .max)).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw CPQTLSError(.fileSystem, "cannot create \(temporary): \(errnoText()); check that \(directory.isEmpty ? "." : directory) exists and is writable")
        }
        var ok = false
        defer {
            if !ok { unlink(temporary) }
        }
        do {
            defer { close(fd) }
            // open(2) applies the umask; make the mode exact.
            guard fchmod(fd, mode) == 0 else {
                throw CPQTLSError(.fileSystem, "cannot set the mode of \(temporary): \(errnoText())")
            }
            let bytes = Array(contents)
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeBytes { buffer in
                    posixWrite(fd, buffer.baseAddress! + offset, buffer.count - offset)
                }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw CPQTLSError(.fileSystem, "cannot write \(temporary): \(errnoText())")
                }
                offset += written
            }
            guard fsync(fd) == 0 else {
                throw CPQTLSError(.fileSystem, "cannot flush \(temporary) to disk: \(errnoText())")
            }
        }
        guard rename(temporary, path) == 0 else {
            throw CPQTLSError(.fileSystem, "cannot rename \(temporary) to \(path): \(errnoText())")
        }
        ok = true
        syncDirectory(directory.isEmpty ? "." : directory)
    }

    /// Writes a UTF-8 string; see ``write(_:to:mode:)``.
    public static func write(_ text: String, to path: String, mode: mode_t) throws {
        try write(Array(text.utf8), to: path, mode: mode)
    }

    /// Creates `path` (and its parents) as a directory with mode 0700 when it does not exist.
    public static func createPrivateDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw CPQTLSError(.fileSystem, "\(path) exists and is not a directory; move it away or choose another directory")
            }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw CPQTLSError(.fileSystem, "cannot create the directory \(path): \(error.localizedDescription)")
        }
    }

    /// The permission bits of `path`, or nil when it does not exist.
    public static func mode(of path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & 0o7777
    }

    static func read(_ path: String) throws -> [UInt8]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CPQTLSError(.fileSystem, "cannot read \(path); check its owner and permissions")
        }
        return Array(data)
    }

    private static func syncDirectory(_ directory: String) {
        let fd = open(directory, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}

/// An exclusive advisory lock on a file (`flock(2)`), held for the duration of
/// `body`: the CA directory and the pairing stores may be used by the manager
/// and by a `lazaret` command at the same time.
enum FileLock {
    static func withLock<R>(_ path: String, _ body: () throws -> R) throws -> R {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, SecureFile.privateMode)
        guard fd >= 0 else {
            throw CPQTLSError(.fileSystem, "cannot open the lock file \(path): \(SecureFile.errnoText())")
        }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw CPQTLSError(.fileSystem, "cannot lock \(path): \(SecureFile.errnoText())")
            }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}

@inline(__always)
private func posixWrite(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Darwin)
    return Darwin.write(fd, pointer, count)
    #elseif canImport(Musl)
    return Musl.write(fd, pointer, count)
    #else
    return Glibc.write(fd, pointer, count)
    #endif
}
