#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `flock(2)` on `directory/lock`, held for the life of the store: a second process (or a
/// second store in this process) opening the same directory is refused.
final class DirectoryLock: Sendable {
    private let fd: Int32

    init(directory: String) throws {
        let path = directory + "/lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw QuarantineStoreError(.open, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            _ = close(fd)
            throw QuarantineStoreError(.locked, "\(directory) is in use by another process or quarantine store; stop it first, or give this one its own directory")
        }
        self.fd = fd
    }

    func unlock() {
        _ = flock(fd, LOCK_UN)
    }

    deinit {
        _ = close(fd)
    }

    /// `fsync` on a directory, so the names of files created in it survive a crash.
    static func syncDirectory(_ directory: String) throws {
        let fd = open(directory, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw QuarantineStoreError(.open, "cannot open directory \(directory): \(String(cString: strerror(errno)))")
        }
        defer { _ = close(fd) }
        guard fsync(fd) == 0 else {
            throw QuarantineStoreError(.open, "cannot sync directory \(directory): \(String(cString: strerror(errno)))")
        }
    }
}
