/// The `; attribute=value` list of Content-Type and Content-Disposition
/// (RFC 2045 §5.1, RFC 2183 §2), with RFC 2231 continuations
/// (`name*0=...; name*1=...`) and extended values (`name*=charset'lang'%XX`).
///
/// Names are lowercased. Values are unquoted; an RFC 2231 value is
/// percent-decoded and converted from its charset. When both `name` and
/// `name*` (or `name*0...`) are present the RFC 2231 form wins. Lenient the
/// way mail clients are: unquoted values may contain spaces, a missing `;`
/// after a quoted value is tolerated, an unterminated quote runs to the end.
/// At most `maxParameters` are read.
enum MIMEParameters {
    static let maxParameters = 64
    static let maxSection = 999

    private struct Segment {
        var section: Int
        var extended: Bool
        var value: [UInt8]
    }

    /// Parses the parameters starting at `start` of `bytes`.
    static func parse(_ bytes: [UInt8], from start: Int) -> [String: String] {
        var simple: [String: String] = [:]
        var extended: [String: String] = [:]
        var sections: [String: [Segment]] = [:]
        var index = start
        let end = bytes.count
        var parsed = 0

        while index < end, parsed < maxParameters {
            // Separator, white space and comments.
            while index < end, bytes[index] == UInt8(ascii: ";") || ASCII.isWhitespace(bytes[index]) || bytes[index] == 0x0D || bytes[index] == 0x0A {
                index += 1
            }
            if index < end, bytes[index] == UInt8(ascii: "(") {
                index = skipComment(bytes, from: index)
                continue
            }
            guard index < end else { break }
            // Attribute.
            let nameStart = index
            while index < end, bytes[index] != UInt8(ascii: "="), bytes[index] != UInt8(ascii: ";") { index += 1 }
            var nameEnd = index
            while nameEnd > nameStart, ASCII.isWhitespace(bytes[nameEnd - 1]) { nameEnd -= 1 }
            guard index < end, bytes[index] == UInt8(ascii: "="), nameEnd > nameStart else {
                // "; foo;" without a value, or "; =x" without a name: skip to the next ";".
                while index < end, bytes[index] != UInt8(ascii: ";") { index += 1 }
                continue
            }
            let rawName = String(decoding: bytes[nameStart..<nameEnd].map(ASCII.lower), as: UTF8.self)
            index += 1
            while index < end, ASCII.isWhitespace(bytes[index]) { index += 1 }
            // Value.
            var value: [UInt8] = []
            if index < end, bytes[index] == UInt8(ascii: "\"") {
                index += 1
                while index < end, bytes[index] != UInt8(ascii: "\"") {
                    if bytes[index] == UInt8(ascii: "\\"), index + 1 < end {
                        index += 1
                    }
                    value.append(bytes[index])
                    index += 1
                }
                index += 1  // closing quote (or past the end)
                // Anything up to the next ';' is junk after the quoted string.
                while index < end, bytes[index] != UInt8(ascii: ";"), ASCII.isWhitespace(bytes[index]) { index += 1 }
            } else {
                let valueStart = index
                while index < end, bytes[index] != UInt8(ascii: ";") { index += 1 }
                var valueEnd = index
                while valueEnd > valueStart, ASCII.isWhitespace(bytes[valueEnd - 1]) { valueEnd -= 1 }
                // A trailing "(comment)" (RFC 2045 §5.1 allows comments): "us-ascii (Plain text)".
                if valueEnd > valueStart, bytes[valueEnd - 1] == UInt8(ascii: ")"),
                   let open = bytes[valueStart..<valueEnd].firstIndex(of: UInt8(ascii: "(")), open > valueStart {
                    valueEnd = open
                    while valueEnd > valueStart, ASCII.isWhitespace(bytes[valueEnd - 1]) { valueEnd -= 1 }
                }
                value = Array(bytes[valueStart..<valueEnd])
            }
            parsed += 1

            // RFC 2231 §3/§4: "name*", "name*N", "name*N*".
            guard let star = rawName.firstIndex(of: "*") else {
                if simple[rawName] == nil {
                    simple[rawName] = Charset.usASCII.decode(value)
                }
                continue
            }
            let base = String(rawName[..<star])
            let rest = rawName[rawName.index(after: star)...]
            if rest.isEmpty {
                if extended[base] == nil { extended[base] = decodeExtended(value) }
                continue
            }
            let isExtended = rest.hasSuffix("*")
            let digits = isExtended ? rest.dropLast() : rest
            guard let section = Int(digits), section >= 0, section <= maxSection else { continue }
            sections[base, default: []].append(Segment(section: section, extended: isExtended, value: value))
        }

        var result = simple
        for (name, value) in extended { result[name] = value }
        for (name, segments) in sections {
            let sorted = segments.sorted { $0.section < $1.section }
            var bytes: [UInt8] = []
            var charset = Charset.usASCII
            var seen = Set<Int>()
            for segment in sorted where seen.insert(segment.section).inserted {
                if segment.extended {
                    var value = segment.value[...]
                    if segment.section == 0 {
                        let (name, rest) = splitCharset(value)
                        if let name { charset = Charset(name: name) }
                        value = rest
                    }
                    bytes += percentDecode(value)
                } else {
                    bytes += segment.value
                }
            }
            result[name] = charset.decode(bytes)
        }
        return result
    }

    static func skipComment(_ bytes: [UInt8], from start: Int) -> Int {
        var depth = 0
        var index = start
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "("): depth += 1
            case UInt8(ascii: ")"):
                depth -= 1
                if depth == 0 { return index + 1 }
            case UInt8(ascii: "\\"): index += 1
            default: break
            }
            index += 1
        }
        return bytes.count
    }

    /// `charset'language'%XX...` (RFC 2231 §4).
    static func decodeExtended(_ value: [UInt8]) -> String {
        let (name, rest) = splitCharset(value[...])
        return Charset(name: name ?? "utf-8").decode(percentDecode(rest))
    }

    private static func splitCharset(_ value: ArraySlice<UInt8>) -> (String?, ArraySlice<UInt8>) {
        guard let first = value.firstIndex(of: UInt8(ascii: "'")),
              let second = value[(first + 1)...].firstIndex(of: UInt8(ascii: "'"))
        else { return (nil, value) }
        let name = String(decoding: value[..<first], as: UTF8.self)
        return (name.isEmpty ? nil : name, value[(second + 1)...])
    }

    private static func percentDecode(_ value: ArraySlice<UInt8>) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(value.count)
        var index = value.startIndex
        while index < value.endIndex {
            if value[index] == UInt8(ascii: "%"), index + 2 < value.endIndex,
               let high = ASCII.hexValue(value[index + 1]), let low = ASCII.hexValue(value[index + 2]) {
                output.append(high << 4 | low)
                index += 3
            } else {
                output.append(value[index])
                index += 1
            }
        }
        return output
    }
}
