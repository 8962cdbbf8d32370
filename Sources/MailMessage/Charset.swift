/// Bytes to text for the charsets mail uses (RFC 2046 §4.1.2, RFC 2047 §3,
/// RFC 2231 §4). UTF-8, US-ASCII, ISO-8859-1 / Windows-1252 (one decoder, as
/// browsers do: mail labelled Latin-1 is usually Windows-1252) and
/// ISO-8859-15; any other charset is decoded as UTF-8 with U+FFFD for invalid
/// sequences.
enum Charset: Hashable, Sendable {
    case utf8
    case usASCII
    case windows1252
    case latin9
    case unknown

    init(name: String?) {
        guard let name else {
            self = .usASCII
            return
        }
        var label = ASCII.lowercased(ASCII.trimmed(Substring(name)))
        if label.hasPrefix("\""), label.hasSuffix("\""), label.count >= 2 {
            label = String(label.dropFirst().dropLast())
        }
        switch label {
        case "utf-8", "utf8", "unicode-1-1-utf-8", "x-unicode20utf8":
            self = .utf8
        case "us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us", "":
            self = .usASCII
        case "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "cp819", "ibm819",
             "windows-1252", "cp1252", "x-cp1252", "iso-ir-100", "iso_8859-1:1987":
            self = .windows1252
        case "iso-8859-15", "iso8859-15", "iso_8859-15", "latin9", "latin-9", "l9":
            self = .latin9
        default:
            self = .unknown
        }
    }

    /// Decodes `bytes`; never fails (invalid input gives U+FFFD or a Latin-1 reading).
    func decode<C: Collection<UInt8>>(_ bytes: C) -> String {
        switch self {
        case .utf8, .unknown:
            return String(decoding: bytes, as: UTF8.self)
        case .usASCII:
            // Mislabelled 8-bit text is common: take it as UTF-8 when it is valid, else Windows-1252.
            if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
            if let text = String(validating: bytes, as: UTF8.self) { return text }
            return Charset.windows1252.decode(bytes)
        case .windows1252, .latin9:
            if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
            var text = String()
            text.reserveCapacity(bytes.count + bytes.count / 4)
            for byte in bytes {
                text.unicodeScalars.append(scalar(byte))
            }
            return text
        }
    }

    private func scalar(_ byte: UInt8) -> Unicode.Scalar {
        if byte < 0x80 { return Unicode.Scalar(byte) }
        if self == .windows1252, byte < 0xA0 {
            return Unicode.Scalar(Charset.windows1252High[Int(byte - 0x80)])!
        }
        if self == .latin9 {
            switch byte {
            case 0xA4: return "\u{20AC}"
            case 0xA6: return "\u{0160}"
            case 0xA8: return "\u{0161}"
            case 0xB4: return "\u{017D}"
            case 0xB8: return "\u{017E}"
            case 0xBC: return "\u{0152}"
            case 0xBD: return "\u{0153}"
            case 0xBE: return "\u{0178}"
            default: break
            }
        }
        return Unicode.Scalar(byte)
    }

    /// Windows-1252 0x80...0x9F (the WHATWG encoding standard's table; unassigned
    /// positions map to the C1 control of the same value).
    private static let windows1252High: [UInt32] = [
        0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
        0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
        0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
        0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
    ]
}
