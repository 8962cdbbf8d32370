import NIOCore
import Testing
@testable import SMTPProtocol

@Suite struct SMTPServerFramerTests {
    /// Feeds `input` (in pieces) and collects every event.
    func events(_ pieces: [String], framer: inout SMTPServerFramer) -> [SMTPServerFramer.Event] {
        var out: [SMTPServerFramer.Event] = []
        for piece in pieces {
            framer.append(ByteBuffer(string: piece))
            while let event = framer.next() { out.append(event) }
        }
        return out
    }

    func dataFramer(maxSize: Int = 1_000_000) -> SMTPServerFramer {
        var framer = SMTPServerFramer()
        framer.beginData(maxMessageSize: maxSize)
        return framer
    }

    @Test func splitsPipelinedCommandLines() {
        var framer = SMTPServerFramer()
        let got = events(["EHLO a\r\nMAIL FROM:<x@y>\r\nRC", "PT TO:<z@w>\r\nDATA\n"], framer: &framer)
        #expect(got == [
            .command(ByteBuffer(string: "EHLO a")),
            .command(ByteBuffer(string: "MAIL FROM:<x@y>")),
            .command(ByteBuffer(string: "RCPT TO:<z@w>")),
            .command(ByteBuffer(string: "DATA")),
        ])
        #expect(framer.bufferedByteCount == 0)
    }

    @Test func commandLineLimitIncludesCRLF() {
        var framer = SMTPServerFramer()
        let ok = String(repeating: "a", count: 510) + "\r\n"
        let tooLong = String(repeating: "b", count: 511) + "\r\n"
        let got = events([ok, tooLong, "NOOP\r\n"], framer: &framer)
        #expect(got == [.command(ByteBuffer(string: String(repeating: "a", count: 510))), .lineTooLong, .command(ByteBuffer(string: "NOOP"))])
    }

    @Test func tenMegabyteCommandLineWithoutLFStaysBounded() {
        var framer = SMTPServerFramer()
        let piece = ByteBuffer(repeating: UInt8(ascii: "A"), count: 64 * 1024)
        var maxBuffered = 0
        for _ in 0..<160 {
            framer.append(piece)
            #expect(framer.next() == nil)
            maxBuffered = max(maxBuffered, framer.bufferedByteCount)
        }
        #expect(maxBuffered <= SMTPDefaults.maxCommandLineLength)
        let got = events(["AAAA\r\nNOOP\r\n"], framer: &framer)
        #expect(got == [.lineTooLong, .command(ByteBuffer(string: "NOOP"))])
    }

    @Test func dotUnstuffingAndEnd() {
        var framer = dataFramer()
        let got = events(["Subject: t\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n"], framer: &framer)
        #expect(got == [
            .messageData(.complete(ByteBuffer(string: "Subject: t\r\n\r\n.leading dot\r\n"))),
            .command(ByteBuffer(string: "QUIT")),
        ])
    }

    @Test func emptyMessage() {
        var framer = dataFramer()
        #expect(events([".\r\n"], framer: &framer) == [.messageData(.complete(ByteBuffer()))])
    }

    @Test func endMarkerSplitAcrossReadsOneByteAtATime() {
        var framer = dataFramer()
        let got = events("hello\r\n.\r\n".map { String($0) }, framer: &framer)
        #expect(got == [.messageData(.complete(ByteBuffer(string: "hello\r\n")))])
    }

    @Test(arguments: [
        ["a\nb\r\n", ".\r\n"],              // bare LF
        ["a\rb\r\n", ".\r\n"],              // bare CR
        ["a\n.\r\n", "b\r\n.\r\n"],         // <LF>.<CR><LF> is not the end
        ["a\n.\n", "b\r\n.\r\n"],           // <LF>.<LF> is not the end
        ["a\r.\r", "b\r\n.\r\n"],           // <CR>.<CR> is not the end
        ["a\r\n.\n", "b\r\n.\r\n"],         // <CRLF>.<LF> is not the end
    ])
    func bareLineEndingsNeverEndDataAndRejectTheMessage(pieces: [String]) {
        var framer = dataFramer()
        framer.append(ByteBuffer(string: pieces[0]))
        #expect(framer.next() == nil, "data must not end early")
        let got = events(Array(pieces.dropFirst()) + ["NOOP\r\n"], framer: &framer)
        #expect(got == [.messageData(.rejected(.bareLineEnding)), .command(ByteBuffer(string: "NOOP"))])
    }

    @Test func textLineOf1001OctetsIsRejected() {
        var framer = dataFramer()
        let line = String(repeating: "x", count: 999) + "\r\n"
        #expect(events([line, ".\r\n"], framer: &framer) == [.messageData(.rejected(.lineTooLong))])
    }

    @Test func textLineOf1000OctetsIsAccepted() {
        var framer = dataFramer()
        let line = String(repeating: "x", count: 998) + "\r\n"
        #expect(events([line, ".\r\n"], framer: &framer) == [.messageData(.complete(ByteBuffer(string: line)))])
    }

    @Test func tenMegabyteDataLineWithoutLFStaysBounded() {
        var framer = dataFramer(maxSize: 20 * 1024 * 1024)
        let piece = ByteBuffer(repeating: UInt8(ascii: "A"), count: 64 * 1024)
        var maxKept = 0
        for _ in 0..<160 {
            framer.append(piece)
            #expect(framer.next() == nil)
            maxKept = max(maxKept, framer.messageByteCount + framer.bufferedByteCount)
        }
        #expect(maxKept <= SMTPDefaults.maxTextLineLength + 3)
        #expect(events(["\r\n.\r\n"], framer: &framer) == [.messageData(.rejected(.lineTooLong))])
    }

    @Test func messageOverSizeLimitIsReadToTheEndAndRejected() {
        var framer = dataFramer(maxSize: 10)
        let got = events(["0123456789abc\r\n", "more\r\n", ".\r\nNOOP\r\n"], framer: &framer)
        #expect(got == [.messageData(.rejected(.tooLarge)), .command(ByteBuffer(string: "NOOP"))])
        #expect(framer.messageByteCount == 0)
    }

    @Test func bdatChunksWithoutDotProcessing() {
        var framer = SMTPServerFramer()
        framer.beginChunk(size: 5, last: false, maxMessageSize: 100, discard: false)
        #expect(events(["he", "l.\r"], framer: &framer) == [.chunk(octets: 5, last: false, outcome: nil)])
        framer.beginChunk(size: 7, last: true, maxMessageSize: 100, discard: false)
        let got = events(["\n.\r\n.\r\nNOOP\r\n"], framer: &framer)
        #expect(got == [
            .chunk(octets: 7, last: true, outcome: .complete(ByteBuffer(string: "hel.\r\n.\r\n.\r\n"))),
            .command(ByteBuffer(string: "NOOP")),
        ])
    }

    @Test(arguments: [
        ["a\nb\r\n"],            // bare LF
        ["a\rb\r\n"],            // bare CR
        ["ends with CR\r"],      // CR at the very end of the message
        ["a\r", "b\r\n"],        // CR at the end of one chunk, no LF at the start of the next
        ["a\r\n", "\nb\r\n"],    // LF at the start of a chunk after a complete CRLF
    ])
    func bdatBareLineEndingsRejectTheMessage(chunks: [String]) {
        var framer = SMTPServerFramer()
        var got: [SMTPServerFramer.Event] = []
        for (index, chunk) in chunks.enumerated() {
            framer.beginChunk(size: chunk.utf8.count, last: index == chunks.count - 1, maxMessageSize: 100, discard: false)
            got += events([chunk], framer: &framer)
            if case .chunk(_, _, .rejected)? = got.last { break }
        }
        guard case .chunk(_, _, let outcome)? = got.last else {
            Issue.record("no chunk event: \(got)")
            return
        }
        #expect(outcome == .rejected(.bareLineEnding))
    }

    @Test func bdatSizeLimit() {
        var framer = SMTPServerFramer()
        framer.beginChunk(size: 20, last: true, maxMessageSize: 10, discard: false)
        let got = events([String(repeating: "z", count: 20) + "NOOP\r\n"], framer: &framer)
        #expect(got == [.chunk(octets: 20, last: true, outcome: .rejected(.tooLarge)), .command(ByteBuffer(string: "NOOP"))])
    }

    @Test func eventsDoNotDependOnHowTheInputIsSplit() {
        let input = Array("l1\r\n..x\r\na\nb\r\n\r\r\n.\r\nNOOP\r\n".utf8)
        var whole = dataFramer()
        let expected = events([String(decoding: input, as: UTF8.self)], framer: &whole)
        #expect(expected == [.messageData(.rejected(.bareLineEnding)), .command(ByteBuffer(string: "NOOP"))])
        for first in 0...input.count {
            for second in first...input.count {
                var framer = dataFramer()
                let pieces = [input[..<first], input[first..<second], input[second...]].map { String(decoding: $0, as: UTF8.self) }
                #expect(events(pieces, framer: &framer) == expected, "split at \(first), \(second)")
            }
        }
    }

    @Test func discardedChunkIsConsumed() {
        var framer = SMTPServerFramer()
        framer.beginChunk(size: 4, last: false, maxMessageSize: 10, discard: true)
        let got = events(["QUITNOOP\r\n"], framer: &framer)
        #expect(got == [.chunk(octets: 4, last: false, outcome: nil), .command(ByteBuffer(string: "NOOP"))])
    }
}
