import NIOCore

/// Splits the bytes a client sends into command lines, DATA bodies and BDAT
/// chunks (RFC 5321 §2.3.8, §4.1.1.4, §4.5.2, §4.5.3.1; RFC 3030). A bare CR
/// or LF refuses the message in BDAT chunks as in DATA.
///
/// A pure value: feed it with ``append(_:)`` and pull ``Event``s with
/// ``next()``. The owner switches modes with ``beginData(maxMessageSize:)``
/// and ``beginChunk(size:last:maxMessageSize:discard:)`` after it accepted
/// a DATA or BDAT command.
///
/// Memory stays bounded: a command line longer than the limit is dropped as
/// it arrives (at most ``SMTPDefaults/maxCommandLineLength`` octets are ever
/// kept for a command), and message octets are kept only up to the session's
/// maximum size and only while the message can still be accepted.
public struct SMTPServerFramer {
    /// What the framer found in the input.
    public enum Event: Hashable, Sendable {
        /// One command line without its line end.
        case command(ByteBuffer)
        /// A command line longer than the limit was discarded up to its LF.
        case lineTooLong
        /// DATA ended at `<CRLF>.<CRLF>`; the framer is back in command mode.
        case messageData(SMTPMessageDataOutcome)
        /// One BDAT chunk was read. `outcome` is set for the LAST chunk, or
        /// when the message was refused (then the message is over), and is
        /// nil for an intermediate chunk and for discarded chunks.
        case chunk(octets: Int, last: Bool, outcome: SMTPMessageDataOutcome?)
    }

    enum Mode {
        case command(discarding: Bool)
        case data(DataLineState)
        case chunk(size: Int, remaining: Int, last: Bool, discard: Bool)
    }

    struct DataLineState {
        var atLineStart = true
        var previousLineEndedWithCRLF = true
        var lineLength = 0
    }

    /// Longest command line including CRLF.
    public let maxCommandLineLength: Int
    /// Longest text line in DATA including CRLF.
    public let maxTextLineLength: Int

    private var buffer = ByteBuffer()
    private var mode: Mode = .command(discarding: false)
    private var message: SMTPMessageAccumulator?

    /// A framer in command mode with the RFC 5321 §4.5.3.1 limits unless given.
    public init(
        maxCommandLineLength: Int = SMTPDefaults.maxCommandLineLength,
        maxTextLineLength: Int = SMTPDefaults.maxTextLineLength
    ) {
        self.maxCommandLineLength = maxCommandLineLength
        self.maxTextLineLength = maxTextLineLength
    }

    /// Input octets received but not yet consumed.
    public var bufferedByteCount: Int { buffer.readableBytes }

    /// Message octets kept for the message being received (0 when none).
    public var messageByteCount: Int { message?.body.readableBytes ?? 0 }

    /// True while reading a DATA body or a BDAT chunk.
    public var isReadingMessage: Bool {
        if case .command = mode { return false }
        return true
    }

    /// True while a BDAT message is open between chunks.
    var hasOpenChunkedMessage: Bool { message != nil && !isReadingMessage }

    /// Adds received octets.
    public mutating func append(_ bytes: ByteBuffer) {
        if buffer.readableBytes == 0 {
            buffer = bytes
            return
        }
        if buffer.readerIndex > 0 { buffer.discardReadBytes() }
        var bytes = bytes
        buffer.writeBuffer(&bytes)
    }

    /// Drops everything buffered (after STARTTLS, RFC 3207 §4.2; before closing).
    public mutating func discardBufferedBytes() {
        buffer = ByteBuffer()
    }

    /// Switches to DATA mode after `354` was sent.
    public mutating func beginData(maxMessageSize: Int) {
        message = SMTPMessageAccumulator(maxSize: maxMessageSize)
        mode = .data(DataLineState())
    }

    /// Switches to reading one BDAT chunk of exactly `size` octets. With
    /// `discard` the octets are read and dropped (the command was refused but
    /// the client sends the chunk anyway, RFC 3030 §2).
    public mutating func beginChunk(size: Int, last: Bool, maxMessageSize: Int, discard: Bool) {
        if !discard, message == nil {
            message = SMTPMessageAccumulator(maxSize: maxMessageSize)
        }
        mode = .chunk(size: size, remaining: size, last: last, discard: discard)
    }

    /// Forgets a partly received BDAT message (RSET, a refused chunk).
    public mutating func abortMessage() {
        message = nil
    }

    /// The next event, or nil when more input is needed.
    public mutating func next() -> Event? {
        switch mode {
        case .command(let discarding):
            return nextCommand(discarding: discarding)
        case .data(var state):
            let event = nextData(&state)
            if case .data = mode { mode = .data(state) }
            return event
        case .chunk(let size, let remaining, let last, let discard):
            return nextChunk(size: size, remaining: remaining, last: last, discard: discard)
        }
    }

    // MARK: - Command lines (RFC 5321 §4.5.3.1.4)

    private mutating func nextCommand(discarding: Bool) -> Event? {
        let view = buffer.readableBytesView
        if discarding {
            guard let lf = view.firstIndex(of: UInt8(ascii: "\n")) else {
                buffer = ByteBuffer()
                return nil
            }
            buffer.moveReaderIndex(to: lf + 1)
            mode = .command(discarding: false)
            return .lineTooLong
        }
        let searchEnd = view.startIndex + min(view.count, maxCommandLineLength)
        guard let lf = view[view.startIndex..<searchEnd].firstIndex(of: UInt8(ascii: "\n")) else {
            if view.count >= maxCommandLineLength {
                // Too long already: drop what we have and skip to the LF.
                buffer.moveReaderIndex(to: searchEnd)
                mode = .command(discarding: true)
                return nextCommand(discarding: true)
            }
            return nil
        }
        var length = lf - view.startIndex
        if length > 0, view[lf - 1] == UInt8(ascii: "\r") { length -= 1 }
        let line = buffer.getSlice(at: buffer.readerIndex, length: length)!
        buffer.moveReaderIndex(to: lf + 1)
        return .command(line)
    }

    // MARK: - DATA (RFC 5321 §4.1.1.4, §4.5.2, §2.3.8)

    private mutating func nextData(_ state: inout DataLineState) -> Event? {
        let cr = UInt8(ascii: "\r")
        let lf = UInt8(ascii: "\n")
        while buffer.readableBytes > 0 {
            if state.atLineStart {
                let start = buffer.readerIndex
                if buffer.getInteger(at: start, as: UInt8.self) == UInt8(ascii: ".") {
                    let readable = buffer.readableBytes
                    if readable < 2 { return nil }
                    if buffer.getInteger(at: start + 1, as: UInt8.self) == cr {
                        if readable < 3 { return nil }
                        if buffer.getInteger(at: start + 2, as: UInt8.self) == lf, state.previousLineEndedWithCRLF {
                            buffer.moveReaderIndex(forwardBy: 3)
                            mode = .command(discarding: false)
                            let outcome = message?.outcome ?? .complete(ByteBuffer())
                            message = nil
                            return .messageData(outcome)
                        }
                    }
                    // Dot-stuffing (RFC 5321 §4.5.2): drop the first dot.
                    buffer.moveReaderIndex(forwardBy: 1)
                    state.lineLength = 1
                }
                state.atLineStart = false
            }
            let view = buffer.readableBytesView
            if let lfIndex = view.firstIndex(of: lf) {
                let segmentLength = lfIndex - view.startIndex + 1
                let endsWithCRLF = segmentLength >= 2 && view[lfIndex - 1] == cr
                let contentEnd = endsWithCRLF ? lfIndex - 1 : lfIndex
                if !endsWithCRLF || view[view.startIndex..<contentEnd].contains(cr) {
                    message?.bareLineEnding = true
                }
                state.lineLength += segmentLength
                if state.lineLength > maxTextLineLength { message?.lineTooLong = true }
                var slice = buffer.readSlice(length: segmentLength)!
                message?.append(&slice)
                state.previousLineEndedWithCRLF = endsWithCRLF
                state.atLineStart = true
                state.lineLength = 0
            } else {
                // No line end yet: take everything except a trailing CR, whose
                // LF may be in the next read.
                var count = view.count
                if view.last == cr { count -= 1 }
                if count == 0 { return nil }
                if view[view.startIndex..<(view.startIndex + count)].contains(cr) {
                    message?.bareLineEnding = true
                }
                state.lineLength += count
                if state.lineLength > maxTextLineLength { message?.lineTooLong = true }
                var slice = buffer.readSlice(length: count)!
                message?.append(&slice)
            }
        }
        return nil
    }

    // MARK: - BDAT chunks (RFC 3030 §2)

    private mutating func nextChunk(size: Int, remaining: Int, last: Bool, discard: Bool) -> Event? {
        var remaining = remaining
        if remaining > 0 {
            let count = min(remaining, buffer.readableBytes)
            if count == 0 { return nil }
            var slice = buffer.readSlice(length: count)!
            if !discard {
                message?.checkLineEndings(slice)
                message?.append(&slice)
            }
            remaining -= count
            if remaining > 0 {
                mode = .chunk(size: size, remaining: remaining, last: last, discard: discard)
                return nil
            }
        }
        mode = .command(discarding: false)
        if discard {
            return .chunk(octets: size, last: last, outcome: nil)
        }
        if last { message?.finishLineEndings() }
        let outcome = message?.outcome ?? .complete(ByteBuffer())
        if last || message?.error != nil {
            message = nil
            return .chunk(octets: size, last: last, outcome: outcome)
        }
        return .chunk(octets: size, last: false, outcome: nil)
    }
}
