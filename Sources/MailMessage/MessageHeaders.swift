/// One header field (RFC 5322 §2.2).
public struct HeaderField: Hashable, Sendable {
    /// The field name as written (case kept; compare with `hasName(_:)`).
    public let name: String
    /// The field body unfolded (RFC 5322 §2.2.3: the line breaks before
    /// continuation lines removed, the white space kept), leading and trailing
    /// white space trimmed, not decoded.
    public let rawValue: String
    /// `rawValue` with RFC 2047 encoded-words decoded.
    public let value: String

    /// A field with `value` decoded from `rawValue` (RFC 2047).
    public init(name: String, rawValue: String) {
        self.name = name
        self.rawValue = rawValue
        self.value = EncodedWords.decode(rawValue)
    }

    init(name: String, rawValue: String, value: String) {
        self.name = name
        self.rawValue = rawValue
        self.value = value
    }

    /// True when the field name is `name`, compared case-insensitively (RFC 5322 §1.2.2).
    public func hasName(_ name: String) -> Bool {
        ASCII.caseInsensitiveEqual(self.name.utf8, name.utf8)
    }
}

/// The header section of a message or of a MIME part (RFC 5322 §3.6,
/// RFC 2045 §3): fields in their order, duplicates kept.
public struct MessageHeaders: Hashable, Sendable, Sequence {
    /// All fields in the order they appear.
    public let fields: [HeaderField]

    /// Headers holding `fields` in the given order.
    public init(_ fields: [HeaderField] = []) {
        self.fields = fields
    }

    /// The decoded value of the first field called `name` (case-insensitive), or nil.
    public subscript(name: String) -> String? {
        first(name)?.value
    }

    /// The first field called `name` (case-insensitive), or nil.
    public func first(_ name: String) -> HeaderField? {
        fields.first { $0.hasName(name) }
    }

    /// The decoded values of every field called `name`, in order.
    public func values(_ name: String) -> [String] {
        fields.compactMap { $0.hasName(name) ? $0.value : nil }
    }

    /// How many fields are called `name`.
    public func count(of name: String) -> Int {
        fields.reduce(0) { $0 + ($1.hasName(name) ? 1 : 0) }
    }

    /// The number of fields, duplicates included.
    public var count: Int { fields.count }
    /// True when there are no fields.
    public var isEmpty: Bool { fields.isEmpty }

    /// Iterates the fields in order.
    public func makeIterator() -> IndexingIterator<[HeaderField]> {
        fields.makeIterator()
    }
}

enum ASCII {
    static func lower(_ byte: UInt8) -> UInt8 {
        byte &- 0x41 < 26 ? byte | 0x20 : byte
    }

    static func caseInsensitiveEqual<A: Collection<UInt8>, B: Collection<UInt8>>(_ a: A, _ b: B) -> Bool {
        guard a.count == b.count else { return false }
        var left = a.makeIterator()
        var right = b.makeIterator()
        while let x = left.next(), let y = right.next() {
            if x != y, lower(x) != lower(y) { return false }
        }
        return true
    }

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }

    /// Lowercases ASCII letters of a string known to be short (type names, charsets).
    static func lowercased(_ string: Substring) -> String {
        if string.utf8.allSatisfy({ $0 &- 0x41 >= 26 }) { return String(string) }
        return String(decoding: string.utf8.map(lower), as: UTF8.self)
    }

    static func trimmed(_ string: Substring) -> Substring {
        let utf8 = string.utf8
        var start = utf8.startIndex
        var end = utf8.endIndex
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A }
        while start < end, isSpace(utf8[start]) { start = utf8.index(after: start) }
        while end > start, isSpace(utf8[utf8.index(before: end)]) { end = utf8.index(before: end) }
        return string[start..<end]
    }
}
