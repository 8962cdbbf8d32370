/// A quarantine id: `Q` followed by 16 characters of the RFC 4648 base32 alphabet
/// (`A`–`Z`, `2`–`7`), 80 random bits, e.g. `QK7XW2M4PA3RT5BNE`. Unique in one store;
/// shown to admins, used in URLs and CLI commands.
public struct QID: Hashable, Sendable, Comparable, Codable, CustomStringConvertible {
    /// The id as text, e.g. `QK7XW2M4PA3RT5BNE`.
    public let rawValue: String

    /// Number of base32 characters after the `Q`.
    public static let randomCharacters = 16
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    /// The QID written as `text`, or nil when `text` is not `Q` + 16 base32 characters
    /// (upper case).
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count == 1 + Self.randomCharacters, bytes[0] == UInt8(ascii: "Q"),
              bytes.dropFirst().allSatisfy({ Self.alphabet.contains($0) })
        else { return nil }
        rawValue = text
    }

    private init(unchecked rawValue: String) {
        self.rawValue = rawValue
    }

    /// A fresh random QID (80 bits from the system random number generator).
    static func random() -> QID {
        var generator = SystemRandomNumberGenerator()
        var bits = (UInt64.random(in: .min ... .max, using: &generator), UInt16.random(in: .min ... .max, using: &generator))
        var text: [UInt8] = [UInt8(ascii: "Q")]
        for _ in 0..<Self.randomCharacters {
            text.append(alphabet[Int(bits.0 & 31)])
            bits.0 = (bits.0 >> 5) | (UInt64(bits.1 & 31) << 59)
            bits.1 >>= 5
        }
        return QID(unchecked: String(decoding: text, as: UTF8.self))
    }

    public var description: String { rawValue }

    public static func < (a: QID, b: QID) -> Bool { a.rawValue < b.rawValue }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let qid = QID(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "not a QID: \(text)"))
        }
        self = qid
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
