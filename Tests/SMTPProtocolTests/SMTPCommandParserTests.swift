import NIOCore
import Testing
@testable import SMTPProtocol

@Suite struct SMTPCommandParserTests {
    @Test(arguments: [
        ("EHLO client.example", SMTPCommand.ehlo("client.example")),
        ("helo client.example", .helo("client.example")),
        ("MAIL FROM:<a@b.example>", .mail(reversePath: "a@b.example", parameters: [:])),
        ("mail from: <a@b.example>", .mail(reversePath: "a@b.example", parameters: [:])),
        ("MAIL FROM:<>", .mail(reversePath: "", parameters: [:])),
        ("MAIL FROM:<a@b.example> SIZE=1000 BODY=8bitmime", .mail(reversePath: "a@b.example", parameters: ["SIZE": "1000", "BODY": "8BITMIME"])),
        ("MAIL FROM:<jürgen@bücher.example> SMTPUTF8", .mail(reversePath: "jürgen@bücher.example", parameters: ["SMTPUTF8": ""])),
        ("MAIL FROM:<@relay.example:a@b.example>", .mail(reversePath: "a@b.example", parameters: [:])),
        ("MAIL FROM:<\"john doe\"@b.example>", .mail(reversePath: "\"john doe\"@b.example", parameters: [:])),
        ("RCPT TO:<c@d.example>", .rcpt(forwardPath: "c@d.example", parameters: [:])),
        ("RCPT TO:<Postmaster>", .rcpt(forwardPath: "Postmaster", parameters: [:])),
        ("RCPT TO:<c@[192.0.2.1]>", .rcpt(forwardPath: "c@[192.0.2.1]", parameters: [:])),
        ("DATA", .data),
        ("BDAT 100", .bdat(size: 100, last: false)),
        ("BDAT 0 LAST", .bdat(size: 0, last: true)),
        ("RSET", .rset),
        ("NOOP", .noop),
        ("NOOP hello", .noop),
        ("QUIT", .quit),
        ("VRFY postmaster", .vrfy("postmaster")),
        ("HELP", .help(nil)),
        ("HELP MAIL", .help("MAIL")),
        ("STARTTLS", .startTLS),
        ("XYZZY foo", .unknown(verb: "XYZZY")),
    ])
    func parses(line: String, expected: SMTPCommand) throws {
        #expect(try SMTPCommandParser.parse(line) == expected)
    }

    @Test(arguments: [
        ("MAIL FROM:<a\0@b.example>", 501),
        ("MAIL FROM:<a@b.example>\r", 501),
        ("RCPT TO:<a@b\n.example>", 501),
        ("RCPT TO:<a\0@b.example>", 501),
        ("EHLO foo\0bar", 501),
        ("EHLO foo\rbar", 501),
        ("HELO foo\nbar", 501),
        ("EHLO", 501),
        ("MAIL FROM:a@b.example", 501),
        ("MAIL FROM:<a@b.example", 501),
        ("MAIL TO:<a@b.example>", 501),
        ("RCPT TO:<>", 501),
        ("RCPT TO:<a b@c.example>", 501),
        ("MAIL FROM:<a@b.example> SIZE=abc", 501),
        ("MAIL FROM:<a@b.example> BODY=9BIT", 501),
        ("MAIL FROM:<a@b.example> FOO=bar", 555),
        ("RCPT TO:<a@b.example> NOTIFY=NEVER", 555),
        ("MAIL FROM:<jürgen@b.example>", 553),
        ("DATA now", 501),
        ("STARTTLS please", 501),
        ("BDAT", 501),
        ("BDAT x", 501),
        ("BDAT 10 FIRST", 501),
        ("VRFY", 501),
        ("", 500),
        ("M@IL FROM:<a@b>", 500),
    ])
    func refuses(line: String, code: Int) {
        do {
            let command = try SMTPCommandParser.parse(line)
            Issue.record("accepted \(line.debugDescription) as \(command)")
        } catch {
            #expect(error.reply.code == code, "\(line.debugDescription) → \(error.reply)")
            #expect(error.reply.enhanced != nil)
        }
    }

    @Test func crLfNulGive501WithEnhancedCode() throws {
        for line in ["MAIL FROM:<a@b.example>\0", "EHLO a\rb", "RCPT TO:<x@y.example>\n"] {
            do {
                _ = try SMTPCommandParser.parse(line)
                Issue.record("accepted \(line.debugDescription)")
            } catch {
                #expect(error.reply.code == 501)
                #expect(error.reply.enhanced == EnhancedStatusCode(5, 5, 4))
            }
        }
    }

    @Test func parsesFromByteBuffer() throws {
        let buffer = ByteBuffer(string: "MAIL FROM:<x@y.example> SIZE=42")
        #expect(try SMTPCommandParser.parse(buffer) == .mail(reversePath: "x@y.example", parameters: ["SIZE": "42"]))
    }
}
