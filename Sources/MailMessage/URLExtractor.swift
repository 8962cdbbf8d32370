/// Finds `http://` and `https://` URLs in text and HTML (RFC 3986 §3 for the
/// characters a URL may hold), for outbreak rules.
///
/// A URL runs until white space, a control character, a non-breaking space or
/// one of `"<>'\`{}|\^`; trailing `.,;:!?*` and unbalanced `)` `]` are
/// dropped; `&amp;` becomes `&` (HTML attributes); the scheme is lowercased.
/// Results are deduplicated in order of first appearance, at most `limit`.
public enum URLExtractor {
    /// The URLs in `texts`, in order of first appearance, at most `limit`.
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
        while index < end {
            // Every URL has "://": look for colons (rarer than "h") and check the scheme before.
            let colon = bytes.firstIndex(of: UInt8(ascii: ":"), from: index, to: end)
            guard colon + 2 < end else { return false }
            guard bytes[colon + 1] == UInt8(ascii: "/"), bytes[colon + 2] == UInt8(ascii: "/"),
                  let secure = scheme(bytes, endingAt: colon, notBefore: index)
            else {
                index = colon + 1
                continue
            }
            let hostStart = colon + 3
            var stop = hostStart
            while stop < end, isURLByte(bytes, stop) { stop += 1 }
            var urlEnd = stop
            trimTrailing(bytes, from: hostStart, end: &urlEnd)
            if urlEnd > hostStart {
                var url = Array((secure ? "https://" : "http://").utf8)
                url.reserveCapacity(url.count + urlEnd - hostStart)
                // "&amp;" in HTML attributes stands for "&".
                var copy = hostStart
                while copy < urlEnd {
                    let ampersand = bytes.firstIndex(of: UInt8(ascii: "&"), from: copy, to: urlEnd)
                    url.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[copy..<ampersand]))
                    guard ampersand < urlEnd else { break }
                    url.append(UInt8(ascii: "&"))
                    copy = ampersand + 1
                    if urlEnd - copy >= 4, bytes[copy] == UInt8(ascii: "a"), bytes[copy + 1] == UInt8(ascii: "m"),
                       bytes[copy + 2] == UInt8(ascii: "p"), bytes[copy + 3] == UInt8(ascii: ";") {
                        copy += 4
                    }
                }
                if !found(String(decoding: url, as: UTF8.self)) { return true }
            }
            index = max(stop, colon + 1)
        }
        return false
    }

    /// Whether "http" (false) or "https" (true), in any case, ends at `colon`; nil otherwise.
    private static func scheme(_ bytes: UnsafeBufferPointer<UInt8>, endingAt colon: Int, notBefore start: Int) -> Bool? {
        func isHTTP(at index: Int) -> Bool {
            index >= start
                && ASCII.lower(bytes[index]) == UInt8(ascii: "h") && ASCII.lower(bytes[index + 1]) == UInt8(ascii: "t")
                && ASCII.lower(bytes[index + 2]) == UInt8(ascii: "t") && ASCII.lower(bytes[index + 3]) == UInt8(ascii: "p")
        }
        if colon - 5 >= 0, ASCII.lower(bytes[colon - 1]) == UInt8(ascii: "s"), isHTTP(at: colon - 5) { return true }
        if colon - 4 >= 0, isHTTP(at: colon - 4) { return false }
        return nil
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
