/// Cuts the byte stream of one control connection into its request line. Pure value:
/// the connection handler feeds bytes in and acts on the event that comes out.
struct ControlRequestFramer {
    enum Event: Equatable {
        /// No newline yet, and under the limit.
        case incomplete
        /// The request line, without its newline (and without a `\r` before it).
        case line([UInt8])
        /// More than `limit` bytes without a newline.
        case tooLarge
    }

    let limit: Int
    private var buffer: [UInt8] = []

    init(limit: Int) {
        self.limit = limit
    }

    /// Adds bytes the client sent; only the first line counts, the rest is ignored.
    mutating func append<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Event {
        if let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) {
            buffer.append(contentsOf: bytes[..<newline])
            return buffer.count + 1 > limit ? .tooLarge : .line(Self.trimmed(buffer))
        }
        buffer.append(contentsOf: bytes)
        return buffer.count > limit ? .tooLarge : .incomplete
    }

    /// The client closed its side: what it sent is the request, newline or not
    /// (nil when it sent nothing).
    func finish() -> Event? {
        buffer.isEmpty ? nil : .line(Self.trimmed(buffer))
    }

    private static func trimmed(_ line: [UInt8]) -> [UInt8] {
        line.last == UInt8(ascii: "\r") ? Array(line.dropLast()) : line
    }
}
