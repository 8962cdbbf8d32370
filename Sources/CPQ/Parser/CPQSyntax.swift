/// The token rules of docs/CPQ.md ("Value syntax") shared by the parser,
/// the encoder and the client helpers.
enum CPQSyntax {
    /// Transfer/release ids, gateway names, QIDs: `[A-Za-z0-9._-]`, 1–64.
    static func isIdentifier<S: StringProtocol>(_ text: S) -> Bool {
        !text.isEmpty && text.utf8.count <= CPQDefaults.maxIdentifierLength && text.utf8.allSatisfy(isIdentifierByte)
    }

    static func isIdentifierByte(_ byte: UInt8) -> Bool {
        isAlphaNumeric(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
    }

    /// Quarantine names (decoded): letters, digits, `-`, `_`, space; 1–64.
    static func isQuarantineName<S: StringProtocol>(_ text: S) -> Bool {
        !text.isEmpty && text.utf8.count <= CPQDefaults.maxQuarantineNameLength
            && text.utf8.allSatisfy { isAlphaNumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: " ") }
    }

    /// A key: an upper-case letter, then upper-case letters, digits or `-`; at most 32.
    static func isKey<S: StringProtocol>(_ text: S) -> Bool {
        guard let first = text.utf8.first, isUpper(first), text.utf8.count <= CPQDefaults.maxKeyLength else { return false }
        return text.utf8.allSatisfy { isUpper($0) || isDigit($0) || $0 == UInt8(ascii: "-") }
    }

    /// Decimal digits below 2^63 (leading zeros allowed, no sign).
    static func number<S: StringProtocol>(_ text: S) -> UInt64? {
        guard !text.isEmpty, text.utf8.count <= 20, text.utf8.allSatisfy(isDigit),
              let value = UInt64(text), value <= CPQDefaults.maxNumber
        else { return nil }
        return value
    }

    /// Decoded free text: no C0 control other than TAB, no DEL (they would
    /// end up in logs and web pages).
    static func isPrintableText(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { $0.value == 0x09 || ($0.value >= 0x20 && $0.value != 0x7F) }
    }

    /// Text from the client made safe to quote in a reply: visible ASCII
    /// only (others become `?`), at most `limit` characters (then `...`).
    static func quoted<S: StringProtocol>(_ text: S, limit: Int = 32) -> String {
        let bytes = text.utf8.prefix(limit).map { $0 > 0x20 && $0 < 0x7F ? $0 : UInt8(ascii: "?") }
        return String(decoding: bytes, as: UTF8.self) + (text.utf8.count > limit ? "..." : "")
    }

    static func isUpper(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") }
    static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
    static func isAlphaNumeric(_ byte: UInt8) -> Bool {
        isUpper(byte) || isDigit(byte) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
    }
}
