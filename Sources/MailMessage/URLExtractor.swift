/// Finds `http://` and `https://` URLs in text and HTML (RFC 3986 §3 for the
/// characters a URL may hold), for outbreak rules.
///
/// A URL runs until white space, a control character, a non-breaking space or
/// one of `"<>'\`{}|\^`; trailing `.,;:!?*` and unbalanced `)` `]` are
/// dropped; `&amp;` becomes `&` (HTML attributes); the scheme is lowercased.
/// Results are deduplicated in order of first appearance, at most `limit`.
public enum URLExtractor {
    public static func extract<S: Sequence<String>>(from texts: S, limit: Int) -> [String] {
        var seen = Set<String>()
        var result: [String] = []
        guard limit > 0 else { return result }
        for var text in texts {
            let done: Bool = text.withUTF8 { bytes in
                extract(bytes) { url in
                    if seen.insert(url).inserted {
                        result.append(url)
                    }
                    return result.count < limit
                }
            }
            if done { break }
        }
        return result
    }

    /// Calls `found` for each URL until it returns false; returns true when stopped early.
    private static func extract(_ bytes: UnsafeBufferPointer<UInt8>, found: (String) -> Bool) -> Bool {
        let end = bytes.count
        var index = 0
        while index + 7 < end {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "h") || byte == UInt8(ascii: "H"),
                  let schemeLength = schemeLength(bytes, at: index)
            else {
                index += 1
                continue
            }
            let hostStart = index + schemeLength
            var stop = hostStart
            while stop < end, isURLByte(bytes, stop) { stop += 1 }
            var urlEnd = stop
            trimTrailing(bytes, from: hostStart, end: &urlEnd)
            if urlEnd > hostStart {
                let scheme = schemeLength == 7 ? "http://" : "https://"
                var rest = String(decoding: UnsafeBufferPointer(rebasing: bytes[hostStart..<urlEnd]), as: UTF8.self)
                if rest.contains("&amp;") { rest = rest.replacing("&amp;", with: "&") }
                if !found(scheme + rest) { return true }
            }
            index = max(stop, index + 1)
        }
        return false
    }

    /// 7 for "http://", 8 for "https://" (any case), else nil.
    private static func schemeLength(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> Int? {
        let end = bytes.count
        guard index + 7 <= end,
              ASCII.lower(bytes[index + 1]) == UInt8(ascii: "t"),
              ASCII.lower(bytes[index + 2]) == UInt8(ascii: "t"),
              ASCII.lower(bytes[index + 3]) == UInt8(ascii: "p")
        else { return nil }
        var colon = index + 4
        var length = 7
        if ASCII.lower(bytes[colon]) == UInt8(ascii: "s") {
            colon += 1
            length = 8
        }
        guard colon + 3 <= end, bytes[colon] == UInt8(ascii: ":"), bytes[colon + 1] == UInt8(ascii: "/"),
              bytes[colon + 2] == UInt8(ascii: "/")
        else { return nil }
        return length
    }

    private static func isURLByte(_ bytes: UnsafeBufferPointer<UInt8>, _ index: Int) -> Bool {
        let byte = bytes[index]
        if byte <= 0x20 || byte == 0x7F { return false }
        if byte == 0xC2, index + 1 < bytes.count, bytes[index + 1] == 0xA0 { return false }  // U+00A0
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "'"), UInt8(ascii: "`"),
             UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "|"), UInt8(ascii: "\\"), UInt8(ascii: "^"):
            return false
        default:
            return true
        }
    }

    private static func trimTrailing(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, end: inout Int) {
        var parentheses = 0  // "(" minus ")"
        var brackets = 0     // "[" minus "]"
        for byte in UnsafeBufferPointer(rebasing: bytes[start..<end]) {
            switch byte {
            case UInt8(ascii: "("): parentheses += 1
            case UInt8(ascii: ")"): parentheses -= 1
            case UInt8(ascii: "["): brackets += 1
            case UInt8(ascii: "]"): brackets -= 1
            default: break
            }
        }
        while end > start {
            switch bytes[end - 1] {
            case UInt8(ascii: "."), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: ":"), UInt8(ascii: "!"),
                 UInt8(ascii: "?"), UInt8(ascii: "*"):
                end -= 1
            case UInt8(ascii: ")") where parentheses < 0:
                parentheses += 1
                end -= 1
            case UInt8(ascii: "]") where brackets < 0:
                brackets += 1
                end -= 1
            default:
                return
            }
        }
    }
}
