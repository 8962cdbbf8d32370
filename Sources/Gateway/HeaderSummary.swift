import NIOCore

/// The few header fields that mail_logs prints for every message
/// (`MID 7 Message-ID '<...>'`, `MID 7 Subject 'hello'`), read from the
/// header section only, bounded, never failing.
struct HeaderSummary {
    var messageID: String?
    var subject: String?

    /// Scans at most `limit` octets of header; unfolds continuation lines.
    init(_ body: ByteBuffer, limit: Int = 64 * 1024) {
        let view = body.readableBytesView.prefix(limit)
        var lineStart = view.startIndex
        var current: [UInt8] = []
        var fields: [(String, String)] = []
        func finish() {
            guard !current.isEmpty, let colon = current.firstIndex(of: UInt8(ascii: ":")) else { return }
            let name = String(decoding: current[..<colon], as: UTF8.self).lowercased()
            guard name == "subject" || name == "message-id" else { return }
            let value = String(decoding: current[(colon + 1)...], as: UTF8.self).trimmingSpaces()
            fields.append((name, value))
        }
        var index = view.startIndex
        while index < view.endIndex {
            if view[index] == UInt8(ascii: "\n") {
                var end = index
                if end > lineStart && view[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let line = view[lineStart..<end]
                if line.isEmpty { break }
                if let first = line.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
                    current.append(UInt8(ascii: " "))
                    current.append(contentsOf: line.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") })
                } else {
                    finish()
                    current = Array(line)
                }
                lineStart = index + 1
            }
            index += 1
        }
        finish()
        for (name, value) in fields {
            let clean = String(value.prefix(200).map { $0.isASCII && ($0.asciiValue! < 32 || $0 == "'") ? " " : $0 })
            if name == "subject", subject == nil { subject = clean }
            if name == "message-id", messageID == nil { messageID = clean }
        }
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
