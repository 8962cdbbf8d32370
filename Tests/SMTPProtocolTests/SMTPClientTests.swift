import NIOCore
import Testing
@testable import SMTPProtocol

@Suite struct SMTPClientReplyParserTests {
    @Test func multiLineReplyWithEnhancedCodes() throws {
        var parser = SMTPClientReplyParser()
        var buffer = ByteBuffer(string: "250-gw.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 STARTTLS\r\n550 5.1.1 No such user\r\n")
        let replies = try parser.parse(&buffer)
        #expect(replies.count == 2)
        #expect(replies[0].code == 250)
        #expect(replies[0].lines == ["gw.example", "PIPELINING", "SIZE 1000", "STARTTLS"])
        let extensions = SMTPServerExtensions(ehloReply: replies[0])
        #expect(extensions.pipelining && extensions.startTLS && extensions.size == 1000 && !extensions.chunking)
        #expect(replies[1].code == 550)
        #expect(replies[1].enhanced == EnhancedStatusCode(5, 1, 1))
        #expect(replies[1].text == "5.1.1 No such user")
    }

    @Test func replySplitAcrossReads() throws {
        var parser = SMTPClientReplyParser()
        var first = ByteBuffer(string: "220 gw ESM")
        #expect(try parser.parse(&first).isEmpty)
        var rest = first
        rest.writeString("TP ready\r\n")
        let replies = try parser.parse(&rest)
        #expect(replies == [SMTPReply(code: 220, enhanced: nil, lines: ["gw ESMTP ready"])])
    }

    @Test(arguments: ["hello\r\n", "25\r\n", "250x bad\r\n", "250-a\r\n354 b\r\n"])
    func malformedRepliesAreErrors(_ text: String) {
        var parser = SMTPClientReplyParser()
        var buffer = ByteBuffer(string: text)
        #expect(throws: SMTPClientReplyParser.ParseError.self) { try parser.parse(&buffer) }
    }

    @Test func overlongLineIsRefusedWithoutBufferingForever() {
        var parser = SMTPClientReplyParser()
        var buffer = ByteBuffer(repeating: UInt8(ascii: "2"), count: SMTPClientReplyParser.maxLineLength + 10)
        #expect(throws: SMTPClientReplyParser.ParseError.lineTooLong) { try parser.parse(&buffer) }
    }

    @Test func wireFormatRoundTrips() throws {
        let reply = SMTPReply(code: 250, enhanced: EnhancedStatusCode(2, 0, 0), lines: ["one", "two"])
        #expect(reply.wireFormat == "250-2.0.0 one\r\n250 2.0.0 two\r\n")
        var parser = SMTPClientReplyParser()
        var buffer = ByteBuffer(string: reply.wireFormat)
        #expect(try parser.parse(&buffer) == [reply])
    }
}

@Suite struct SMTPClientTransactionTests {
    let ok = SMTPReply(250, EnhancedStatusCode(2, 0, 0), "Ok")

    @Test func pipelinedEnvelopeThenBodyDelivers() {
        var t = SMTPClientTransaction(mailFrom: "a@x", recipients: ["b@y", "c@y"], parameters: ["SIZE=10"], pipelining: true)
        #expect(t.envelopeCommands == ["MAIL FROM:<a@x> SIZE=10\r\n", "RCPT TO:<b@y>\r\n", "RCPT TO:<c@y>\r\n", "DATA\r\n"])
        #expect(t.receive(ok) == .awaitMoreReplies)
        #expect(t.receive(ok) == .awaitMoreReplies)
        #expect(t.receive(SMTPReply(550, EnhancedStatusCode(5, 1, 1), "No such user")) == .awaitMoreReplies)
        #expect(t.receive(SMTPReply(354, nil, "go ahead")) == .sendBody)
        t.bodySent()
        let queued = SMTPReply(250, EnhancedStatusCode(2, 0, 0), "Ok: queued as 12")
        #expect(t.receive(queued) == .finished)
        #expect(t.results[0] == .delivered(queued))
        #expect(t.results[1] == .failed(SMTPReply(550, EnhancedStatusCode(5, 1, 1), "No such user")))
        #expect(!t.needsReset)
    }

    @Test func temporaryMailFailureDefersEveryone() {
        var t = SMTPClientTransaction(mailFrom: "a@x", recipients: ["b@y"], pipelining: true)
        let busy = SMTPReply(451, EnhancedStatusCode(4, 3, 0), "busy")
        _ = t.receive(busy)
        _ = t.receive(SMTPReply(503, EnhancedStatusCode(5, 5, 1), "need MAIL"))
        #expect(t.receive(SMTPReply(503, EnhancedStatusCode(5, 5, 1), "need RCPT")) == .finished)
        #expect(t.results == [.deferred(busy)])
        #expect(t.needsReset)
    }

    @Test func allRecipientsRefusedSkipsTheBody() {
        var t = SMTPClientTransaction(mailFrom: "", recipients: ["b@y"], pipelining: true)
        #expect(t.envelopeCommands.first == "MAIL FROM:<>\r\n")
        _ = t.receive(ok)
        let later = SMTPReply(452, EnhancedStatusCode(4, 2, 2), "mailbox full")
        _ = t.receive(later)
        #expect(t.receive(SMTPReply(554, EnhancedStatusCode(5, 5, 1), "no valid recipients")) == .finished)
        #expect(t.results == [.deferred(later)])
    }

    @Test func pipelined354WithNoAcceptedRecipientEndsDataEmptyThenResets() {
        var t = SMTPClientTransaction(mailFrom: "a@x", recipients: ["b@y", "c@y"], pipelining: true)
        let unknown = SMTPReply(550, EnhancedStatusCode(5, 1, 1), "No such user")
        let full = SMTPReply(452, EnhancedStatusCode(4, 2, 2), "mailbox full")
        _ = t.receive(ok)
        _ = t.receive(unknown)
        _ = t.receive(full)
        #expect(t.receive(SMTPReply(354, nil, "go ahead")) == .abortData, "the server is in DATA: it must get `.` alone, never RSET")
        #expect(t.state == .abortingData)
        #expect(t.needsReset)
        #expect(t.receive(SMTPReply(554, EnhancedStatusCode(5, 5, 1), "no valid recipients")) == .finished)
        #expect(t.state == .done)
        #expect(t.results == [.failed(unknown), .deferred(full)], "nothing was delivered")
    }

    @Test func pipelined354AfterRefusedMailEndsDataEmpty() {
        var t = SMTPClientTransaction(mailFrom: "a@x", recipients: ["b@y"], pipelining: true)
        let refused = SMTPReply(550, EnhancedStatusCode(5, 7, 1), "sender refused")
        _ = t.receive(refused)
        _ = t.receive(ok)
        #expect(t.receive(SMTPReply(354, nil, "go ahead")) == .abortData)
        #expect(t.receive(ok) == .finished)
        #expect(t.results == [.failed(refused)])
    }

    @Test func withoutPipeliningARefusedMailEndsTheTransaction() {
        var t = SMTPClientTransaction(mailFrom: "a@x", recipients: ["b@y", "c@y"], pipelining: false)
        let busy = SMTPReply(451, EnhancedStatusCode(4, 3, 0), "busy")
        #expect(t.receive(busy) == .finished, "no RCPT or DATA after a refused MAIL")
        #expect(t.results == [.deferred(busy), .deferred(busy)])
        #expect(t.needsReset)
    }

    @Test func withoutPipeliningNoAcceptedRecipientSkipsData() {
        var t = SMTPClientTransaction(mailFrom: "a@x", recipients: ["b@y", "c@y"], pipelining: false)
        let unknown = SMTPReply(550, EnhancedStatusCode(5, 1, 1), "No such user")
        #expect(t.receive(ok) == .awaitMoreReplies)
        #expect(t.receive(unknown) == .awaitMoreReplies)
        #expect(t.receive(unknown) == .finished, "DATA must not be sent")
        #expect(t.results == [.failed(unknown), .failed(unknown)])
    }

    @Test func withoutPipeliningOneAcceptedRecipientGoesOnToData() {
        var t = SMTPClientTransaction(mailFrom: "a@x", recipients: ["b@y", "c@y"], pipelining: false)
        let unknown = SMTPReply(550, EnhancedStatusCode(5, 1, 1), "No such user")
        _ = t.receive(ok)
        _ = t.receive(unknown)
        #expect(t.receive(ok) == .awaitMoreReplies)
        #expect(t.receive(SMTPReply(354, nil, "go")) == .sendBody)
    }

    @Test func finalRejectionFailsAcceptedRecipients() {
        var t = SMTPClientTransaction(mailFrom: "a@x", recipients: ["b@y"], pipelining: false)
        _ = t.receive(ok); _ = t.receive(ok)
        #expect(t.receive(SMTPReply(354, nil, "go")) == .sendBody)
        t.bodySent()
        let spam = SMTPReply(554, EnhancedStatusCode(5, 7, 1), "spam")
        _ = t.receive(spam)
        #expect(t.results == [.failed(spam)])
    }

    @Test func brokenConnectionDefers() {
        var t = SMTPClientTransaction(mailFrom: "a@x", recipients: ["b@y", "c@y"], pipelining: true)
        _ = t.receive(ok)
        let lost = SMTPReply(451, EnhancedStatusCode(4, 4, 2), "connection lost")
        t.connectionFailed(lost)
        #expect(t.results == [.deferred(lost), .deferred(lost)])
    }

    @Test(arguments: [
        ("Subject: x\r\n\r\nbody\r\n", "Subject: x\r\n\r\nbody\r\n.\r\n"),
        (".leading\r\n..two\r\nmid.dle\r\n.\r\n", "..leading\r\n...two\r\nmid.dle\r\n..\r\n.\r\n"),
        ("no final newline", "no final newline\r\n.\r\n"),
        ("lone\nLF\r\n\n.dot\n", "lone\r\nLF\r\n\r\n..dot\r\n.\r\n"),
        ("ends in CR\r", "ends in CR\r\n.\r\n"),
        ("", ".\r\n"),
    ])
    func dotStuffing(_ input: String, _ expected: String) {
        var out = ByteBuffer()
        SMTPClientTransaction.writeDotStuffed(ByteBuffer(string: input), into: &out)
        #expect(String(buffer: out) == expected)
    }
}
