import Foundation

/// The line editing of an interactive SSH session, as a value: bytes typed at the terminal
/// in, what to echo and finished lines out. Printable characters (UTF-8 too), backspace
/// (DEL or ^H), ^U clears the line, ^C abandons it, ^D on an empty line ends the session,
/// Enter (CR, LF or CR LF) finishes the line, up and down arrows walk the history. Other
/// control characters and escape sequences are ignored.
public struct LineEditor: Sendable {
    /// What a key press leads to.
    public enum Event: Hashable, Sendable {
        /// Bytes to send to the terminal (echo, erasing, redrawing).
        case echo([UInt8])
        /// A finished line (without its line end).
        case line(String)
        /// ^C: the line was abandoned.
        case interrupt
        /// ^D on an empty line.
        case endOfInput
    }

    /// Longest line kept (4 KiB); further characters ring the bell.
    public static let defaultMaximumLineBytes = 4096
    /// History entries kept.
    public static let defaultHistorySize = 100

    /// The prompt, redrawn when the history replaces the line.
    public var prompt: String
    public private(set) var buffer: [UInt8] = []
    public private(set) var history: [String] = []
    public let maximumLineBytes: Int
    private var historyIndex: Int?
    private var escape: EscapeState = .none
    private var lastWasCarriageReturn = false

    private enum EscapeState: Sendable { case none, escape, csi }

    public init(prompt: String, maximumLineBytes: Int = LineEditor.defaultMaximumLineBytes) {
        self.prompt = prompt
        self.maximumLineBytes = maximumLineBytes
    }

    /// Feeds typed bytes; answers what to echo and the lines finished, in order.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [Event] {
        var events: [Event] = []
        var echo: [UInt8] = []
        func flushEcho() {
            if !echo.isEmpty { events.append(.echo(echo)); echo = [] }
        }
        for byte in bytes {
            let afterCR = lastWasCarriageReturn
            lastWasCarriageReturn = false
            switch escape {
            case .escape:
                escape = byte == UInt8(ascii: "[") || byte == UInt8(ascii: "O") ? .csi : .none
                continue
            case .csi:
                if (0x40...0x7e).contains(byte) {
                    escape = .none
                    if byte == UInt8(ascii: "A") { echo += recall(older: true) }
                    if byte == UInt8(ascii: "B") { echo += recall(older: false) }
                }
                continue
            case .none:
                break
            }
            switch byte {
            case 0x0d, 0x0a:
                if byte == 0x0a && afterCR { continue }
                lastWasCarriageReturn = byte == 0x0d
                echo += Array("\r\n".utf8)
                flushEcho()
                let line = String(decoding: buffer, as: UTF8.self)
                buffer = []
                historyIndex = nil
                remember(line)
                events.append(.line(line))
            case 0x7f, 0x08:
                guard !buffer.isEmpty else { continue }
                while let last = buffer.popLast(), last & 0xc0 == 0x80 {}
                echo += [0x08, 0x20, 0x08]
            case 0x15:  // ^U
                echo += erase()
                buffer = []
            case 0x03:  // ^C
                echo += Array("^C\r\n".utf8)
                flushEcho()
                buffer = []
                historyIndex = nil
                events.append(.interrupt)
            case 0x04:  // ^D
                if buffer.isEmpty {
                    flushEcho()
                    events.append(.endOfInput)
                }
            case 0x1b:
                escape = .escape
            case 0x20...0x7e, 0x80...0xff:
                if buffer.count < maximumLineBytes {
                    buffer.append(byte)
                    echo.append(byte)
                } else {
                    echo.append(0x07)
                }
            default:
                continue
            }
        }
        flushEcho()
        return events
    }

    private mutating func remember(_ line: String) {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, history.last != line else { return }
        history.append(line)
        if history.count > Self.defaultHistorySize { history.removeFirst() }
    }

    /// Erases the line on the terminal (back to just after the prompt).
    private func erase() -> [UInt8] {
        Array("\r\u{1b}[K".utf8) + Array(prompt.utf8)
    }

    private mutating func recall(older: Bool) -> [UInt8] {
        guard !history.isEmpty else { return [0x07] }
        var index: Int?
        if older {
            index = max(0, (historyIndex ?? history.count) - 1)
        } else {
            guard let current = historyIndex else { return [0x07] }
            index = current + 1 < history.count ? current + 1 : nil
        }
        historyIndex = index
        buffer = index.map { Array(history[$0].utf8) } ?? []
        return erase() + buffer
    }
}
