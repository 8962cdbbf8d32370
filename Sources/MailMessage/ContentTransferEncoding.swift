/// The Content-Transfer-Encoding of a part (RFC 2045 §6.1). Absent means 7bit.
public enum ContentTransferEncoding: Hashable, Sendable {
    /// `7bit` (RFC 2045 §6.2), also the default.
    case sevenBit
    /// `8bit` (RFC 2045 §6.2).
    case eightBit
    /// `binary` (RFC 2045 §6.2, RFC 3030).
    case binary
    /// `quoted-printable` (RFC 2045 §6.7).
    case quotedPrintable
    /// `base64` (RFC 2045 §6.8).
    case base64
    /// Any other value, lowercased (e.g. `x-uuencode`); bodies are left as they are.
    case other(String)

    /// Parses a field value; nil or empty gives `.sevenBit`.
    public init(_ value: String?) {
        guard let value else {
            self = .sevenBit
            return
        }
        // A comment or parameters after the token happen in the wild: keep the token only.
        let token = ASCII.trimmed(Substring(value)).prefix { $0 != ";" && $0 != "(" && $0 != " " && $0 != "\t" }
        switch ASCII.lowercased(token) {
        case "", "7bit": self = .sevenBit
        case "8bit": self = .eightBit
        case "binary": self = .binary
        case "quoted-printable": self = .quotedPrintable
        case "base64": self = .base64
        case let other: self = .other(other)
        }
    }

    /// True for base64 and quoted-printable.
    public var isEncoding: Bool {
        self == .base64 || self == .quotedPrintable
    }
}

/// Base64 (RFC 2045 §6.8), lenient: characters outside the alphabet are
/// skipped, each `=` ends a quantum, a trailing partial quantum is decoded.
enum Base64 {
    /// 0...63 for alphabet characters, 64 for `=`, 65 for CR/LF/SP/HT, 255 for anything else.
    static let table: [UInt8] = {
        var table = [UInt8](repeating: 255, count: 256)
        for (index, byte) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(byte)] = UInt8(index)
        }
        table[Int(UInt8(ascii: "="))] = 64
        for space in [0x0D, 0x0A, 0x20, 0x09] { table[space] = 65 }
        return table
    }()

    static func decode<C: Collection<UInt8>>(_ input: C) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(input.count / 4 * 3 + 3)
        let decoded: Void? = input.withContiguousStorageIfAvailable { buffer in
            decode(buffer, into: &output)
        }
        if decoded == nil {
            let copy = Array(input)
            copy.withUnsafeBufferPointer { decode($0, into: &output) }
        }
        return output
    }

    private static func decode(_ input: UnsafeBufferPointer<UInt8>, into output: inout [UInt8]) {
        table.withUnsafeBufferPointer { table in
            var accumulator: UInt32 = 0
            var count = 0
            for byte in input {
                let value = table[Int(byte)]
                if value < 64 {
                    accumulator = accumulator << 6 | UInt32(value)
                    count += 1
                    if count == 4 {
                        output.append(UInt8(truncatingIfNeeded: accumulator >> 16))
                        output.append(UInt8(truncatingIfNeeded: accumulator >> 8))
                        output.append(UInt8(truncatingIfNeeded: accumulator))
                        accumulator = 0
                        count = 0
                    }
                } else if value == 64 {
                    flush(&accumulator, &count, into: &output)
                }
            }
            flush(&accumulator, &count, into: &output)
        }
    }

    private static func flush(_ accumulator: inout UInt32, _ count: inout Int, into output: inout [UInt8]) {
        switch count {
        case 2:
            output.append(UInt8(truncatingIfNeeded: accumulator >> 4))
        case 3:
            output.append(UInt8(truncatingIfNeeded: accumulator >> 10))
            output.append(UInt8(truncatingIfNeeded: accumulator >> 2))
        default:
            break
        }
        accumulator = 0
        count = 0
    }

    /// The size `decode` returns, without decoding.
    static func decodedCount(_ input: UnsafeBufferPointer<UInt8>) -> Int {
        table.withUnsafeBufferPointer { table in
            var total = 0
            var count = 0
            for byte in input {
                let value = table[Int(byte)]
                if value < 64 {
                    count += 1
                    if count == 4 { total += 3; count = 0 }
                } else if value == 64 {
                    total += max(0, count - 1)
                    count = 0
                }
            }
            return total + max(0, count - 1)
        }
    }

    /// Strict check (RFC 2045 §6.8): alphabet and line breaks only, whole
    /// quanta, padding only at the end.
    static func isValid(_ input: UnsafeBufferPointer<UInt8>) -> Bool {
        table.withUnsafeBufferPointer { table in
            var count = 0
            var padding = 0
            var index = 0
            let end = input.count
            while index < end {
                // Fast path: eight alphabet characters (values 0...63 have bits 6 and 7 clear).
                if index + 8 <= end, padding == 0 {
                    let any = table[Int(input[index])] | table[Int(input[index + 1])] | table[Int(input[index + 2])]
                        | table[Int(input[index + 3])] | table[Int(input[index + 4])] | table[Int(input[index + 5])]
                        | table[Int(input[index + 6])] | table[Int(input[index + 7])]
                    if any < 64 {
                        count += 8
                        index += 8
                        continue
                    }
                }
                let value = table[Int(input[index])]
                index += 1
                if value < 64 {
                    if padding > 0 { return false }
                    count += 1
                } else if value == 64 {
                    padding += 1
                    if padding > 2 { return false }
                } else if value == 255 {
                    return false
                }
            }
            if padding > 0 {
                // "xx==" or "xxx=".
                return (count + padding) % 4 == 0 && count % 4 >= 2
            }
            return count % 4 == 0
        }
    }
}

/// Quoted-printable (RFC 2045 §6.7), lenient: soft line breaks removed,
/// `=XX` decoded in either case, any other `=` kept as it is, trailing white
/// space before a line break dropped (rule 3).
enum QuotedPrintable {
    static func decode<C: Collection<UInt8>>(_ input: C, underscoreIsSpace: Bool = false) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(input.count)
        let decoded: Void? = input.withContiguousStorageIfAvailable { buffer in
            decode(buffer, underscoreIsSpace: underscoreIsSpace, into: &output)
        }
        if decoded == nil {
            let copy = Array(input)
            copy.withUnsafeBufferPointer { decode($0, underscoreIsSpace: underscoreIsSpace, into: &output) }
        }
        return output
    }

    private static func decode(_ input: UnsafeBufferPointer<UInt8>, underscoreIsSpace: Bool, into output: inout [UInt8]) {
        var index = 0
        let end = input.count
        while index < end {
            let byte = input[index]
            switch byte {
            case UInt8(ascii: "="):
                if index + 2 < end, let high = ASCII.hexValue(input[index + 1]), let low = ASCII.hexValue(input[index + 2]) {
                    output.append(high << 4 | low)
                    index += 3
                    continue
                }
                // Soft line break: "=" then optional white space then a line end or the end of input.
                var next = index + 1
                while next < end, ASCII.isWhitespace(input[next]) { next += 1 }
                if next == end {
                    index = end
                    continue
                }
                if input[next] == 0x0A {
                    index = next + 1
                    continue
                }
                if input[next] == 0x0D, next + 1 < end, input[next + 1] == 0x0A {
                    index = next + 2
                    continue
                }
                if input[next] == 0x0D, next + 1 == end {
                    index = end
                    continue
                }
                output.append(byte)
                index += 1
            case 0x20, 0x09:
                // Drop white space at the end of a line (transport padding, RFC 2045 §6.7 rule 3).
                var next = index
                while next < end, ASCII.isWhitespace(input[next]) { next += 1 }
                if next == end || input[next] == 0x0A || (input[next] == 0x0D && next + 1 < end && input[next + 1] == 0x0A) {
                    index = next
                } else {
                    output.append(contentsOf: UnsafeBufferPointer(rebasing: input[index..<next]))
                    index = next
                }
            case UInt8(ascii: "_") where underscoreIsSpace:
                output.append(0x20)
                index += 1
            default:
                // Copy the run up to the next octet that needs a look.
                var next = index + 1
                while next < end {
                    let byte = input[next]
                    if byte == UInt8(ascii: "=") || byte == 0x20 || byte == 0x09 || (underscoreIsSpace && byte == UInt8(ascii: "_")) { break }
                    next += 1
                }
                output.append(contentsOf: UnsafeBufferPointer(rebasing: input[index..<next]))
                index = next
            }
        }
    }

    /// Strict check: every `=` starts `=XX` (hex digits) or a soft line break.
    static func isValid(_ input: UnsafeBufferPointer<UInt8>) -> Bool {
        var index = 0
        let end = input.count
        while index < end {
            index = input.firstIndex(of: UInt8(ascii: "="), from: index, to: end)
            guard index < end else { break }
            if index + 2 < end, ASCII.hexValue(input[index + 1]) != nil, ASCII.hexValue(input[index + 2]) != nil {
                index += 3
                continue
            }
            var next = index + 1
            while next < end, ASCII.isWhitespace(input[next]) { next += 1 }
            if next == end || input[next] == 0x0A || (input[next] == 0x0D && (next + 1 == end || input[next + 1] == 0x0A)) {
                index = next
                continue
            }
            return false
        }
        return true
    }
}
