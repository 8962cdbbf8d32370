import NIOCore
import Testing
@testable import SMTPProtocol

@Suite struct SMTPServerStateMachineTests {
    /// A machine past the greeting under `policy`.
    func readyMachine(policy: SMTPSessionPolicy = SMTPSessionPolicy(), tls: Bool = false) -> SMTPServerStateMachine {
        var machine = SMTPServerStateMachine(configuration: .init(hostname: "mx.test", tlsAvailable: tls, maxBadCommands: 10))
        machine.connectionOpened()
        guard case .scheduleGreeting = machine.connectionDecision(.success(.accept(policy, greeting: "hi"))) else {
            Issue.record("no greeting")
            return machine
        }
        guard case .send(let greeting) = machine.greetingDue() else {
            Issue.record("no greeting")
            return machine
        }
        #expect(greeting.wireFormat == "220 mx.test ESMTP hi\r\n")
        return machine
    }

    /// Runs `input` answering every delegate question with 250 (extension
    /// commands with `extensionReply`); returns the replies.
    func run(_ machine: inout SMTPServerStateMachine, _ input: String,
             extensionReply: (String, String) -> SMTPReply = { _, _ in SMTPReply(250, .init(2, 0, 0), "Ok") }) -> [SMTPReply] {
        if let action = machine.receivedBytes(ByteBuffer(string: input)) {
            if case .close(let reply?, _, _) = action { return [reply] }
            return []
        }
        var replies: [SMTPReply] = []
        var action = machine.nextAction()
        while true {
            switch action {
            case .readMore, .wait, .scheduleGreeting:
                return replies
            case .send(let reply), .sendAndAbortTransaction(let reply, _), .startTLS(let reply), .resetSession(let reply, _):
                replies.append(reply)
                action = machine.nextAction()
            case .close(let reply, _, _):
                if let reply { replies.append(reply) }
                return replies
            case .askMailFrom:
                action = machine.mailFromAnswered(.success(SMTPReply(250, .init(2, 1, 0), "Ok")))
            case .askRcptTo:
                action = machine.rcptToAnswered(.success(SMTPReply(250, .init(2, 1, 5), "Ok")))
            case .askMessage:
                action = machine.messageAnswered(.success(SMTPReply(250, .init(2, 0, 0), "queued")))
            case .askExtension(let verb, let argument, _):
                action = machine.extensionAnswered(.success(extensionReply(verb, argument)))
            }
        }
    }

    func codes(_ replies: [SMTPReply]) -> [String] {
        replies.map { "\($0.code) \($0.enhanced?.description ?? "-")" }
    }

    @Test func sequenceErrors() {
        var machine = readyMachine()
        #expect(codes(run(&machine, "MAIL FROM:<a@b.example>\r\n")) == ["503 5.5.1"])
        #expect(codes(run(&machine, "RCPT TO:<a@b.example>\r\n")) == ["503 5.5.1"])
        #expect(codes(run(&machine, "EHLO c\r\nRCPT TO:<a@b.example>\r\nDATA\r\n")) == ["250 -", "503 5.5.1", "503 5.5.1"])
        #expect(codes(run(&machine, "MAIL FROM:<a@b.example>\r\nDATA\r\n")) == ["250 2.1.0", "554 5.5.1"])
        #expect(codes(run(&machine, "MAIL FROM:<a@b.example>\r\n")) == ["503 5.5.1"])
        #expect(machine.badCommandCount == 6)
    }

    @Test func simpleCommands() {
        var machine = readyMachine()
        let replies = run(&machine, "NOOP\r\nVRFY bob\r\nHELP\r\nRSET\r\nFOO\r\nQUIT\r\n")
        #expect(codes(replies) == ["250 2.0.0", "252 2.5.0", "214 2.0.0", "250 2.0.0", "500 5.5.2", "221 2.0.0"])
        #expect(replies[1].text == "2.5.0 Cannot VRFY user, but will accept message and attempt delivery")
        #expect(machine.isClosed)
    }

    @Test func ehloAnnouncesExtensions() {
        var machine = readyMachine(policy: SMTPSessionPolicy(maxMessageSize: 12345), tls: true)
        let reply = run(&machine, "EHLO client\r\n")[0]
        #expect(reply.lines == ["mx.test Hello client", "PIPELINING", "SIZE 12345", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING", "STARTTLS", "HELP"])
        var noTLS = readyMachine(policy: SMTPSessionPolicy(tls: .off), tls: true)
        #expect(!run(&noTLS, "EHLO client\r\n")[0].lines.contains("STARTTLS"))
        var noContext = readyMachine(tls: false)
        #expect(!run(&noContext, "EHLO client\r\n")[0].lines.contains("STARTTLS"))
    }

    @Test func tlsRequiredRefusesMail() {
        var machine = readyMachine(policy: SMTPSessionPolicy(tls: .required), tls: true)
        let replies = run(&machine, "EHLO c\r\nMAIL FROM:<a@b.example>\r\n")
        #expect(replies.last == SMTPReply(530, .init(5, 7, 0), "Must issue a STARTTLS command first"))
    }

    @Test func startTLSDiscardsBufferedInputAndResetsSession() {
        var machine = readyMachine(tls: true)
        let replies = run(&machine, "EHLO c\r\nSTARTTLS\r\nMAIL FROM:<evil@x.example>\r\n")
        #expect(codes(replies) == ["250 -", "220 2.0.0"])
        #expect(machine.framer.bufferedByteCount == 0)
        #expect(machine.nextAction().isWait)
        machine.tlsEstablished()
        #expect(machine.isTLS)
        #expect(machine.heloName == nil)
        #expect(codes(run(&machine, "MAIL FROM:<a@b.example>\r\n")) == ["503 5.5.1"])
        #expect(codes(run(&machine, "EHLO c\r\nSTARTTLS\r\n")) == ["250 -", "503 5.5.1"])
        #expect(!run(&machine, "EHLO c\r\n")[0].lines.contains("STARTTLS"))
    }

    @Test func startTLSWithArgumentsIs501() {
        var machine = readyMachine(tls: true)
        #expect(codes(run(&machine, "STARTTLS now\r\n")) == ["501 5.5.4"])
    }

    @Test func recipientAndSizeLimits() {
        var machine = readyMachine(policy: SMTPSessionPolicy(maxMessageSize: 100, maxRecipientsPerMessage: 2))
        let replies = run(&machine, "EHLO c\r\nMAIL FROM:<a@b.example> SIZE=101\r\nMAIL FROM:<a@b.example> SIZE=100\r\nRCPT TO:<1@x.example>\r\nRCPT TO:<2@x.example>\r\nRCPT TO:<3@x.example>\r\n")
        #expect(codes(replies) == ["250 -", "552 5.3.4", "250 2.1.0", "250 2.1.5", "250 2.1.5", "452 4.5.3"])
        #expect(replies[5].text == "4.5.3 Too many recipients")
        #expect(machine.transaction?.recipients == ["1@x.example", "2@x.example"])
    }

    @Test func nonASCIIRecipientNeedsSMTPUTF8() {
        var machine = readyMachine()
        #expect(codes(run(&machine, "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<jürgen@x.example>\r\n")) == ["250 -", "250 2.1.0", "553 5.6.7"])
        var utf8 = readyMachine()
        #expect(codes(run(&utf8, "EHLO c\r\nMAIL FROM:<a@b.example> SMTPUTF8\r\nRCPT TO:<jürgen@x.example>\r\n")) == ["250 -", "250 2.1.0", "250 2.1.5"])
    }

    @Test func messagesPerSessionLimit() {
        var machine = readyMachine(policy: SMTPSessionPolicy(maxMessagesPerSession: 1))
        let one = "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
        #expect(codes(run(&machine, "EHLO c\r\n" + one)) == ["250 -", "250 2.1.0", "250 2.1.5", "354 -"])
        #expect(codes(run(&machine, "x\r\n.\r\n")) == ["250 2.0.0"])
        #expect(codes(run(&machine, "MAIL FROM:<a@b.example>\r\n")) == ["452 4.5.3"])
    }

    @Test func rejectedSessionOnlyAllowsQuit() {
        var machine = SMTPServerStateMachine(configuration: .init(hostname: "mx.test", tlsAvailable: false))
        machine.connectionOpened()
        let denied = SMTPReply(554, .init(5, 7, 1), "Access denied")
        guard case .send(let reply) = machine.connectionDecision(.success(.reject(denied))) else {
            Issue.record("reject reply not sent")
            return
        }
        #expect(reply == denied)
        #expect(codes(run(&machine, "EHLO c\r\nMAIL FROM:<a@b.example>\r\nQUIT\r\n")) == ["503 5.5.1", "503 5.5.1", "221 2.0.0"])
        #expect(machine.isClosed)
    }

    @Test func earlyTalkerBeforeGreeting() {
        var machine = SMTPServerStateMachine(configuration: .init(hostname: "mx.test", tlsAvailable: false))
        machine.connectionOpened()
        guard case .close(let reply?, _, _) = machine.receivedBytes(ByteBuffer(string: "EHLO x\r\n")) else {
            Issue.record("early talker not closed")
            return
        }
        #expect(reply.code == 554)
        #expect(reply.enhanced == EnhancedStatusCode(5, 5, 0))
    }

    @Test func bdatSequence() {
        var machine = readyMachine()
        let replies = run(&machine, "EHLO c\r\nBDAT 3\r\nabcMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nBDAT 3\r\nabcBDAT 2 LAST\r\nde")
        #expect(codes(replies) == ["250 -", "503 5.5.1", "250 2.1.0", "250 2.1.5", "250 2.0.0", "250 2.0.0"])
        #expect(replies[4].text == "2.0.0 3 octets received")
        #expect(replies[5].text == "2.0.0 queued")
    }
}

extension SMTPServerStateMachine.Action {
    var isWait: Bool {
        if case .wait = self { return true }
        return false
    }
}
