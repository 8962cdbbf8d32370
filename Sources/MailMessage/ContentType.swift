/// A Content-Type field value (RFC 2045 §5.1): `type/subtype` plus parameters.
///
/// `type` and `subtype` are lowercased; parameter names are lowercased and
/// values decoded as `MIMEParameters` describes (RFC 2231 continuations and
/// charsets). RFC 2047 encoded-words in values are not decoded here; the
/// part's `filename` decodes them.
public struct ContentType: Hashable, Sendable, CustomStringConvertible {
    /// The top-level media type, lowercased (`text`, `multipart`, ...).
    public let type: String
    /// The subtype, lowercased (`plain`, `mixed`, ...).
    public let subtype: String
    /// Parameters by lowercased name.
    public let parameters: [String: String]

    /// A content type; `type` and `subtype` are lowercased, parameter names are taken as given.
    public init(type: String, subtype: String, parameters: [String: String] = [:]) {
        self.type = type.lowercased()
        self.subtype = subtype.lowercased()
        self.parameters = parameters
    }

    /// Parses a field value; nil when it does not start with `type/subtype`.
    public init?(parsing value: String) {
        let bytes = Array(value.utf8)
        var index = 0
        func skipCFWS() {
            while index < bytes.count {
                if ASCII.isWhitespace(bytes[index]) || bytes[index] == 0x0D || bytes[index] == 0x0A {
                    index += 1
                } else if bytes[index] == UInt8(ascii: "(") {
                    index = MIMEParameters.skipComment(bytes, from: index)
                } else {
                    break
                }
            }
        }
        func token() -> String? {
            let start = index
            while index < bytes.count, ContentType.isTokenByte(bytes[index]) { index += 1 }
            guard index > start else { return nil }
            return String(decoding: bytes[start..<index].map(ASCII.lower), as: UTF8.self)
        }
        skipCFWS()
        guard let type = token() else { return nil }
        skipCFWS()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "/") else { return nil }
        index += 1
        skipCFWS()
        guard let subtype = token() else { return nil }
        // Parameters follow; a missing ";" before the first one ("text/html charset=utf-8")
        // is tolerated as mail clients do: MIMEParameters reads from here.
        self.type = type
        self.subtype = subtype
        self.parameters = MIMEParameters.parse(bytes, from: index)
    }

    /// RFC 2045 §5.2: text/plain; charset=us-ascii.
    public static let textPlain = ContentType(type: "text", subtype: "plain")
    /// The default inside multipart/digest (RFC 2046 §5.1.5).
    public static let messageRFC822 = ContentType(type: "message", subtype: "rfc822")

    /// `type/subtype`.
    public var mimeType: String { type + "/" + subtype }

    /// The value of a parameter (name compared case-insensitively).
    public subscript(parameter name: String) -> String? {
        parameters[name.lowercased()]
    }

    /// The `charset` parameter (RFC 2046 §4.1.2).
    public var charset: String? { parameters["charset"] }
    /// The `boundary` parameter (RFC 2046 §5.1.1).
    public var boundary: String? { parameters["boundary"] }
    /// The `name` parameter (RFC 1341; still sent as the attachment name by many clients).
    public var name: String? { parameters["name"] }

    /// `multipart/*` (RFC 2046 §5.1).
    public var isMultipart: Bool { type == "multipart" }
    /// `text/*` (RFC 2046 §4.1).
    public var isText: Bool { type == "text" }
    /// message/rfc822 and message/global (RFC 6532 §3.5): bodies that are whole messages.
    public var isEncapsulatedMessage: Bool {
        type == "message" && (subtype == "rfc822" || subtype == "global")
    }

    /// `type/subtype; name="value"...`, parameters sorted by name.
    public var description: String {
        var text = mimeType
        for name in parameters.keys.sorted() {
            text += "; \(name)=\"\(parameters[name]!)\""
        }
        return text
    }

    /// RFC 2045 §5.1 token: printable ASCII except SP and tspecials.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        guard byte > 0x20, byte < 0x7F else { return false }
        switch byte {
        case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "@"),
             UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: ":"), UInt8(ascii: "\\"), UInt8(ascii: "\""),
             UInt8(ascii: "/"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "?"), UInt8(ascii: "="):
            return false
        default:
            return true
        }
    }
}

/// A Content-Disposition field value (RFC 2183): `inline` / `attachment` plus parameters.
public struct ContentDisposition: Hashable, Sendable {
    /// The disposition type, lowercased (`inline`, `attachment`, or another token).
    public let type: String
    /// Parameters by lowercased name (RFC 2183 §2, RFC 2231).
    public let parameters: [String: String]

    /// A disposition; `type` is lowercased.
    public init(type: String, parameters: [String: String] = [:]) {
        self.type = type.lowercased()
        self.parameters = parameters
    }

    /// Parses a field value. A value that starts with a parameter (no type)
    /// gets an empty `type` but keeps its parameters, as clients do.
    public init(parsing value: String) {
        let bytes = Array(value.utf8)
        var index = 0
        while index < bytes.count, ASCII.isWhitespace(bytes[index]) { index += 1 }
        let start = index
        while index < bytes.count, ContentType.isTokenByte(bytes[index]) { index += 1 }
        if index < bytes.count, bytes[index] == UInt8(ascii: "=") {
            // "filename=x" with no type.
            self.type = ""
            self.parameters = MIMEParameters.parse(bytes, from: start)
        } else {
            self.type = String(decoding: bytes[start..<index].map(ASCII.lower), as: UTF8.self)
            self.parameters = MIMEParameters.parse(bytes, from: index)
        }
    }

    /// RFC 2183 §2.2.
    public var isAttachment: Bool { type == "attachment" }
    /// RFC 2183 §2.1.
    public var isInline: Bool { type == "inline" }
    /// The `filename` parameter (RFC 2183 §2.3), RFC 2231-decoded.
    public var filename: String? { parameters["filename"] }
}
