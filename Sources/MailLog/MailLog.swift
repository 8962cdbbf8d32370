#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers

/// The `mail_logs` writer: one event a line, in the format mail admins know
/// from appliances, e.g. `Mon Nov 23 08:55:41 2026 Info: Start MID 7 ICID 5`.
///
/// Each line is written with one `write(2)` so that `tail -f` and `grep`
/// see it at once and lines from many sessions never interleave.
public final class MailLog: Sendable {
    public enum Level: String, Sendable {
        case info = "Info"
        case warning = "Warning"
        case critical = "Critical"
        case debug = "Debug"
    }

    private let fd: Int32
    private let ownsDescriptor: Bool
    private let recent: NIOLockedValueBox<[String]>
    private let keepRecent: Int

    /// Opens (creating it if needed) the log file at `path` for appending.
    public init(path: String, keepRecent: Int = 0) throws {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            throw MailLogError(message: "cannot open mail_logs at \(path): \(String(cString: strerror(errno))); check that the directory exists and is writable")
        }
        self.fd = fd
        self.ownsDescriptor = true
        self.keepRecent = keepRecent
        self.recent = NIOLockedValueBox([])
    }

    /// A log that keeps only the last `keepRecent` lines in memory (for tests).
    public init(inMemoryKeeping keepRecent: Int = 10_000) {
        self.fd = -1
        self.ownsDescriptor = false
        self.keepRecent = keepRecent
        self.recent = NIOLockedValueBox([])
    }

    deinit {
        if ownsDescriptor { close(fd) }
    }

    public func info(_ message: String) { write(.info, message) }
    public func warning(_ message: String) { write(.warning, message) }
    public func critical(_ message: String) { write(.critical, message) }

    public func write(_ level: Level, _ message: String) {
        let line = "\(Self.timestamp()) \(level.rawValue): \(message)\n"
        if fd >= 0 {
            var bytes = Array(line.utf8)
            bytes.withUnsafeMutableBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 { if errno == EINTR { continue }; return }
                    offset += n
                }
            }
        }
        if keepRecent > 0 {
            recent.withLockedValue { lines in
                lines.append(String(line.dropLast()))
                if lines.count > keepRecent { lines.removeFirst(lines.count - keepRecent) }
            }
        }
    }

    /// The last lines written (only when the log keeps recent lines).
    public var recentLines: [String] { recent.withLockedValue { $0 } }

    /// `Mon Nov 23 08:55:41 2026`, local time, as appliances print it.
    static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, "%a %b %e %H:%M:%S %Y", &parts)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

public struct MailLogError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}
