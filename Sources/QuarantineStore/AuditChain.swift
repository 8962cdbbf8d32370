import Crypto
import Foundation

/// An audit entry's columns exactly as stored in `audit_log`: what its hash covers.
struct AuditRecord: Hashable, Sendable {
    var seq: Int64
    var at: String
    var actor: String
    var role: String?
    var action: String
    var qid: String?
    var quarantines: String?
    var selection: String?
    var outcome: String
    var reason: String?
    var detail: String?
    var prevHash: String

    /// The canonical serialization (docs/QUARANTINE-STORE.md, "Audit log"): the line
    /// `lazaret-audit-v1`, then one line per column in this fixed order, each
    /// `name:LENGTH:VALUE` with LENGTH the value's UTF-8 byte count in decimal, or
    /// `name:-` for NULL; every line ends in `\n`. The length makes the encoding
    /// unambiguous whatever a value holds (newlines, colons), and NULL differs from "".
    var canonical: [UInt8] {
        var out = Array("\(AuditChain.formatVersion)\n".utf8)
        func field(_ name: String, _ value: String?) {
            out += Array(name.utf8)
            if let value {
                out += Array(":\(value.utf8.count):".utf8)
                out += Array(value.utf8)
            } else {
                out += Array(":-".utf8)
            }
            out.append(UInt8(ascii: "\n"))
        }
        field("seq", String(seq))
        field("at", at)
        field("actor", actor)
        field("role", role)
        field("action", action)
        field("qid", qid)
        field("quarantines", quarantines)
        field("selection", selection)
        field("outcome", outcome)
        field("reason", reason)
        field("detail", detail)
        field("prev_hash", prevHash)
        return out
    }

    /// SHA-256 of `canonical`, 64 lower-case hex digits: the entry's `hash`.
    var hash: String { AuditChain.hex(SHA256.hash(data: canonical)) }
}

/// The constants and text forms of the hash chain.
enum AuditChain {
    /// First line of every serialization; a new format would get a new version line.
    static let formatVersion = "lazaret-audit-v1"
    /// `prev_hash` of entry 1.
    static let genesisHash = String(repeating: "0", count: 64)

    static func hex(_ digest: SHA256.Digest) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// True for 64 lower-case hex digits.
    static func isHash(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// `2026-09-21T12:26:40.123Z`: UTC, to the nearest millisecond, always 24 characters (years 1970-9999).
    static func timeText(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        var seconds = time_t(milliseconds.quotientAndRemainder(dividingBy: 1000).quotient)
        let fraction = Int(milliseconds - Int64(seconds) * 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), fraction)
    }

    /// The date `timeText` wrote, or nil when `text` is not in that form.
    static func date(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 24, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"),
              bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"), bytes[19] == UInt8(ascii: "."),
              bytes[23] == UInt8(ascii: "Z")
        else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in bytes[range] {
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), let hour = number(11..<13),
              let minute = number(14..<16), let second = number(17..<19), let milliseconds = number(20..<23)
        else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let seconds = timegm(&parts)
        return Date(timeIntervalSince1970: Double(seconds) + Double(milliseconds) / 1000)
    }
}
