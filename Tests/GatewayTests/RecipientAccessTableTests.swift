import SMTPProtocol
import Testing

@testable import Gateway

@Suite struct RecipientAccessTableTests {
    static let example = """
        # recipient access table
        example.com        ACCEPT
        .example.com       ACCEPT        (any subdomain)
        postmaster@        ACCEPT        (any domain's postmaster)
        ceo@example.com    REJECT        "550 5.7.1 Use the web form"
        ALL                REJECT
        """

    @Test(arguments: [
        ("user@example.com", RecipientAccessAction.accept, "example.com"),
        ("User@EXAMPLE.com", .accept, "example.com"),
        ("user@sub.example.com", .accept, ".example.com"),
        ("user@deep.sub.example.com", .accept, ".example.com"),
        ("postmaster@elsewhere.example", .accept, "postmaster@"),
        ("PostMaster@elsewhere.example", .accept, "postmaster@"),
        ("ceo@example.com", .reject, "ceo@example.com"),
        ("ceo@Example.COM", .reject, "ceo@example.com"),
        ("ceo@sub.example.com", .accept, ".example.com"),
        ("user@notexample.com", .reject, "ALL"),
        ("user@other.example", .reject, "ALL"),
    ])
    func precedence(recipient: String, action: RecipientAccessAction, pattern: String) throws {
        let table = try RecipientAccessTable(parsing: Self.example)
        let decision = table.evaluate(recipient: recipient)
        #expect(decision.action == action)
        #expect(decision.matchedPattern?.description == pattern)
    }

    @Test func precedenceDoesNotDependOnOrder() throws {
        let table = try RecipientAccessTable(parsing: """
            ALL REJECT
            .example.com REJECT
            example.com REJECT
            postmaster@ REJECT
            ceo@example.com ACCEPT
            """)
        #expect(table.evaluate(recipient: "ceo@example.com").action == .accept)
        #expect(table.evaluate(recipient: "postmaster@example.com").matchedPattern == .localPart("postmaster"))
    }

    @Test func longestSuffixWins() throws {
        let table = try RecipientAccessTable(parsing: ".example.com ACCEPT\n.secret.example.com REJECT\n")
        #expect(table.evaluate(recipient: "a@x.example.com").action == .accept)
        #expect(table.evaluate(recipient: "a@x.secret.example.com").action == .reject)
    }

    @Test func defaultRejectAndReplies() throws {
        let table = try RecipientAccessTable(parsing: "example.com ACCEPT\nceo@example.com REJECT \"550 5.7.1 Use the web form\"\n")
        let other = table.evaluate(recipient: "joe@other.example")
        #expect(other.action == .reject)
        #expect(other.matchedPattern == nil)
        #expect(other.reply == SMTPReply(550, EnhancedStatusCode(5, 7, 1), "Recipient address rejected: <joe@other.example>"))
        #expect(other.reply.description == "550 5.7.1 Recipient address rejected: <joe@other.example>")
        let ceo = table.evaluate(recipient: "ceo@example.com")
        #expect(ceo.reply == SMTPReply(550, EnhancedStatusCode(5, 7, 1), "Use the web form"))
        #expect(table.evaluate(recipient: "joe@example.com").reply.isPositiveCompletion)
        #expect(try RecipientAccessTable(parsing: "").evaluate(recipient: "a@b.example").action == .reject)
    }

    @Test func replyWithoutEnhancedCodeGetsOne() throws {
        let table = try RecipientAccessTable(parsing: "ALL REJECT \"450 try later\"\n")
        #expect(table.evaluate(recipient: "a@b.example").reply == SMTPReply(450, EnhancedStatusCode(4, 7, 1), "try later"))
    }

    @Test func bypassReceivingControl() throws {
        let table = try RecipientAccessTable(parsing: "example.com ACCEPT bypass_receiving_control (internal)\n")
        let decision = table.evaluate(recipient: "a@example.com")
        #expect(decision.bypassReceivingControl)
        #expect(decision.comment == "internal")
    }

    @Test(arguments: [
        ("example.com ACEPT\n", #"RAT line 1: "ACEPT" is not ACCEPT or REJECT"#),
        ("# c\nexample.com\n", #"RAT line 2: "example.com" needs ACCEPT or REJECT"#),
        ("<a@b.example> ACCEPT\n", #"RAT line 1: "<a@b.example>" is not an address"#),
        ("bad..domain ACCEPT\n", #"RAT line 1: "bad..domain" is not an address, local@, domain, .domain or ALL"#),
        ("a.example ACCEPT \"550 no\"\n", #"RAT line 1: only REJECT takes a reply"#),
        ("a.example REJECT \"250 fine\"\n", #"RAT line 1: "250 fine" is not an SMTP failure reply"#),
        ("a.example REJECT \"550 open\n", #"RAT line 1: the quoted reply is not closed"#),
        ("a.example ACCEPT\n\nA.EXAMPLE REJECT\n", #"RAT line 3: "a.example" is already listed on line 1"#),
        ("a.example REJECT bypass_receiving_control\n", #"RAT line 1: bypass_receiving_control applies to ACCEPT only"#),
        ("a.example ACCEPT extra\n", #"RAT line 1: unexpected "extra""#),
    ])
    func parseErrors(text: String, message: String) {
        #expect {
            _ = try RecipientAccessTable(parsing: text)
        } throws: { error in
            (error as? ConfigurationError)?.problems.first?.hasPrefix(message) == true
        }
    }

    @Test func roundTrip() throws {
        let table = try RecipientAccessTable(parsing: Self.example + "\ninternal.example ACCEPT bypass_receiving_control (staff)\n")
        let text = table.text
        let again = try RecipientAccessTable(parsing: text)
        #expect(again == table)
        #expect(again.text == text)
        #expect(text.contains(#"ceo@example.com    REJECT "550 5.7.1 Use the web form""#))
    }
}
