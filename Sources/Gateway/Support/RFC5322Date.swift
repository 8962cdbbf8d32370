#if canImport(Glibc)
import Glibc
#endif

/// Dates as RFC 5322 §3.3 writes them: `Mon, 23 Nov 2026 08:55:41 +0000`.
public enum RFC5322Date {
    public static func now() -> String { format(time(nil)) }

    public static func format(_ seconds: time_t) -> String {
        var t = seconds
        var parts = tm()
        gmtime_r(&t, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S +0000", &parts)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
