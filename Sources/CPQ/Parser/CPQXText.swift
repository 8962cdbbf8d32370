/// xtext (RFC 3461 §4), the encoding of CPQ's free-text values:
///
/// ```
/// xtext   = *( xchar / hexchar )
/// xchar   = any ASCII CHAR between "!" (33) and "~" (126) inclusive, except "+" and "="
/// hexchar = "+" followed by two upper-case hexadecimal digits
/// ```
///
/// Text is encoded octet by octet from its UTF-8 form: `+`, `=`, space,
/// controls and every non-ASCII octet become `+XX`.
public enum CPQXText {
    /// Why an xtext value could not be decoded.
    public enum DecodeError: Error, Hashable, Sendable {
        /// An octet that is neither an xchar nor the start of a hexchar (space, `=`, non-ASCII, control).
        case invalidCharacter(offset: Int)
        /// `+` not followed by two upper-case hex digits.
        case invalidHexEscape(offset: Int)
        /// More decoded octets than the limit.
        case tooLong
        /// The decoded octets are not UTF-8.
        case invalidUTF8
    }

    /// The xtext form of `text`.
    public static func encode(_ text: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if isXChar(byte) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "+"))
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `xtext` into text of at most `maxLength` UTF-8 octets.
    /// Lower-case hex digits are refused (RFC 3461 says upper case).
    public static func decode<S: StringProtocol>(_ xtext: S, maxLength: Int) throws(DecodeError) -> String {
        var out: [UInt8] = []
        var bytes = Array(xtext.utf8)[...]
        var offset = 0
        while let byte = bytes.first {
            if byte == UInt8(ascii: "+") {
                guard bytes.count >= 3,
                      let high = hexValue(bytes[bytes.startIndex + 1]),
                      let low = hexValue(bytes[bytes.startIndex + 2])
                else { throw .invalidHexEscape(offset: offset) }
                out.append(high << 4 | low)
                bytes = bytes.dropFirst(3)
                offset += 3
            } else {
                guard isXChar(byte) else { throw .invalidCharacter(offset: offset) }
                out.append(byte)
                bytes = bytes.dropFirst()
                offset += 1
            }
            if out.count > maxLength { throw .tooLong }
        }
        guard let text = String(validating: out, as: UTF8.self) else { throw .invalidUTF8 }
        return text
    }

    /// `!`..`~` except `+` and `=`.
    static func isXChar(_ byte: UInt8) -> Bool {
        byte >= 33 && byte <= 126 && byte != UInt8(ascii: "+") && byte != UInt8(ascii: "=")
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
