import SMTPProtocol
import Testing

@testable import Gateway

@Suite struct HostAccessTableTests {
    static let example = """
        $RELAYED
          RELAY {}
        $BLOCKED
          REJECT {}
        $THROTTLED
          ACCEPT {max_msg_size = 5M, max_rcpts_per_msg = 50, max_msgs_per_session = 100, max_rcpts_per_hour = 1000, max_conn_per_ip = 10, tls = preferred}
        RELAYLIST:
          10.1.2.3
          192.168.0.0/16
          .partner.example
            $RELAYED (Only select hosts can relay from this box)
        SUSPECTS:
          mail.bad.example, 203.0.113.
            REJECT {} (inline policy)
        ALL
          $BLOCKED (Everyone else)
        """

    static let designExample = """
        $RELAYED
          RELAY {}
        $BLOCKED
          REJECT {}
        RELAYLIST:
          10.1.2.3
            $RELAYED (Only select hosts can relay from this box)
        ALL
          $BLOCKED (Everyone else)
        """

    @Test func designExampleParsesAndEvaluates() throws {
        let table = try HostAccessTable(parsing: Self.designExample)
        let relayed = table.evaluate(address: "10.1.2.3", reverseDNS: nil, verified: false)
        #expect(relayed.behaviour == .relay)
        #expect(relayed.senderGroup == "RELAYLIST")
        #expect(relayed.policyName == "RELAYED")
        #expect(relayed.comment == "Only select hosts can relay from this box")
        #expect(relayed.allowsRelay)

        let other = table.evaluate(address: "8.8.8.8", reverseDNS: "dns.google", verified: true)
        #expect(other.behaviour == .reject)
        #expect(other.senderGroup == "ALL")
        #expect(other.policyName == "BLOCKED")
        #expect(other.comment == "Everyone else")
        #expect(other.connectionDecision(defaultGreeting: "hi") == .reject(HostAccessTable.defaultRejectReply))
    }

    @Test func fullExampleStructure() throws {
        let table = try HostAccessTable(parsing: Self.example)
        #expect(table.policies.map(\.name) == ["RELAYED", "BLOCKED", "THROTTLED"])
        #expect(table.rules.map(\.name) == ["RELAYLIST", "SUSPECTS", "ALL"])
        guard case .senderGroup(_, let members) = table.rules[1].selector else {
            Issue.record("SUSPECTS is not a sender group")
            return
        }
        #expect(members == [.hostname("mail.bad.example"), .partialIPv4([203, 0, 113])])
        #expect(table.rules[1].policy == .inline(HostAccessPolicy(behaviour: .reject)))
        #expect(table.rules[1].comment == "inline policy")
    }

    @Test(arguments: [
        ("192.168.44.1", HostAccessBehaviour.relay),
        ("192.169.0.1", .reject),
        ("::ffff:192.168.1.1", .relay),
        ("203.0.113.77", .reject),
        ("203.0.114.77", .reject),
        ("10.1.2.3", .relay),
        ("10.1.2.30", .reject),
    ])
    func ipv4Matching(address: String, expected: HostAccessBehaviour) throws {
        let table = try HostAccessTable(parsing: Self.example)
        #expect(table.evaluate(address: address, reverseDNS: nil, verified: false).behaviour == expected)
    }

    @Test func partialIPv4IsNumericPrefix() throws {
        let table = try HostAccessTable(parsing: """
            OK:
              10.1.
                ACCEPT {}
            ALL
              REJECT {}
            """)
        #expect(table.evaluate(address: "10.1.99.1", reverseDNS: nil, verified: false).behaviour == .accept)
        // A string prefix hack would match 10.10.x.x and 10.100.x.x too.
        #expect(table.evaluate(address: "10.10.0.1", reverseDNS: nil, verified: false).behaviour == .reject)
        #expect(table.evaluate(address: "10.100.0.1", reverseDNS: nil, verified: false).behaviour == .reject)
    }

    @Test func ipv6AddressesAndNetworks() throws {
        let table = try HostAccessTable(parsing: """
            V6:
              2001:db8::/32, ::1
                RELAY {}
            ALL
              REJECT {}
            """)
        #expect(table.evaluate(address: "2001:db8:1::5", reverseDNS: nil, verified: false).behaviour == .relay)
        #expect(table.evaluate(address: "2001:0DB8:0000::1", reverseDNS: nil, verified: false).behaviour == .relay)
        #expect(table.evaluate(address: "2001:db9::1", reverseDNS: nil, verified: false).behaviour == .reject)
        #expect(table.evaluate(address: "0:0:0:0:0:0:0:1", reverseDNS: nil, verified: false).behaviour == .relay)
        #expect(table.evaluate(address: "::2", reverseDNS: nil, verified: false).behaviour == .reject)
    }

    @Test func hostnamesNeedVerifiedReverseDNS() throws {
        let table = try HostAccessTable(parsing: Self.example)
        // .partner.example → RELAYED, only when verified, only for subdomains.
        #expect(table.evaluate(address: "198.51.100.1", reverseDNS: "mx1.partner.example", verified: true).behaviour == .relay)
        #expect(table.evaluate(address: "198.51.100.1", reverseDNS: "MX1.Partner.Example.", verified: true).behaviour == .relay)
        #expect(table.evaluate(address: "198.51.100.1", reverseDNS: "mx1.partner.example", verified: false).behaviour == .reject)
        #expect(table.evaluate(address: "198.51.100.1", reverseDNS: "partner.example", verified: true).senderGroup == "ALL")
        #expect(table.evaluate(address: "198.51.100.1", reverseDNS: "evilpartner.example", verified: true).senderGroup == "ALL")
        // Exact host name.
        let suspect = table.evaluate(address: "198.51.100.2", reverseDNS: "mail.bad.example", verified: true)
        #expect(suspect.senderGroup == "SUSPECTS")
        #expect(suspect.policyName == nil)
        #expect(table.evaluate(address: "198.51.100.2", reverseDNS: "mail.bad.example", verified: false).senderGroup == "ALL")
        #expect(table.evaluate(address: "198.51.100.2", reverseDNS: "x.mail.bad.example", verified: true).senderGroup == "ALL")
    }

    @Test func parametersWithSuffixes() throws {
        let table = try HostAccessTable(parsing: """
            $THROTTLED
              ACCEPT {max_msg_size = 5M, max_rcpts_per_msg = 50, max_msgs_per_session = 100,
                      max_rcpts_per_hour = 1000, max_conn_per_ip = 10, tls = required,
                      smtp_banner_text = "Welcome, \\"friend\\"", reject_reply = "451 4.7.1 Later"}
            $SMALL
              ACCEPT {max_msg_size = 512K}
            $BIG
              ACCEPT {max_msg_size = 2g}
            $BYTES
              ACCEPT {max_msg_size = 1000}
            ALL
              $THROTTLED
            """)
        let decision = table.evaluate(address: "1.2.3.4", reverseDNS: nil, verified: false)
        #expect(decision.behaviour == .accept)
        #expect(decision.sessionPolicy == SMTPSessionPolicy(maxMessageSize: 5 * 1024 * 1024, maxRecipientsPerMessage: 50, maxMessagesPerSession: 100, tls: .required))
        #expect(decision.maxRecipientsPerHour == 1000)
        #expect(decision.maxConnectionsPerIP == 10)
        #expect(decision.parameters.bannerText == "Welcome, \"friend\"")
        #expect(decision.parameters.rejectReply == SMTPReply(451, EnhancedStatusCode(4, 7, 1), "Later"))
        #expect(decision.connectionDecision(defaultGreeting: "x") == .accept(decision.sessionPolicy, greeting: "Welcome, \"friend\""))
        let sizes = table.policies.map(\.parameters.maxMessageSize)
        #expect(sizes == [5 << 20, 512 << 10, 2 << 30, 1000])
    }

    @Test func defaultsWhenParametersAreEmpty() throws {
        let table = try HostAccessTable(parsing: Self.designExample)
        let decision = table.evaluate(address: "10.1.2.3", reverseDNS: nil, verified: false)
        #expect(decision.sessionPolicy == SMTPSessionPolicy())
        #expect(decision.maxRecipientsPerHour == nil)
        #expect(decision.maxConnectionsPerIP == nil)
    }

    @Test func continueRemembersParameters() throws {
        let table = try HostAccessTable(parsing: """
            $TLS_ONLY
              CONTINUE {tls = required, max_rcpts_per_hour = 10}
            $RELAYED
              RELAY {max_rcpts_per_hour = 500, max_msg_size = 1M}
            TRUSTED_TLS:
              10.0.0.0/8
                $TLS_ONLY (partners must use TLS)
            RELAYLIST:
              10.1.0.0/16
                $RELAYED
            ALL
              REJECT {}
            """)
        let decision = table.evaluate(address: "10.1.2.3", reverseDNS: nil, verified: false)
        #expect(decision.behaviour == .relay)
        #expect(decision.senderGroup == "RELAYLIST")
        #expect(decision.policyName == "RELAYED")
        #expect(decision.sessionPolicy.tls == .required)
        #expect(decision.sessionPolicy.maxMessageSize == 1 << 20)
        #expect(decision.maxRecipientsPerHour == 10) // the earlier CONTINUE match wins
        let outside = table.evaluate(address: "10.2.0.1", reverseDNS: nil, verified: false)
        #expect(outside.behaviour == .reject)
        #expect(outside.senderGroup == "ALL")
        #expect(outside.sessionPolicy.tls == .required)
    }

    @Test func noMatchRejects() throws {
        let table = try HostAccessTable(parsing: """
            $RELAYED
              RELAY {}
            RELAYLIST:
              10.1.2.3
                $RELAYED
            """)
        let decision = table.evaluate(address: "8.8.8.8", reverseDNS: nil, verified: false)
        #expect(decision.behaviour == .reject)
        #expect(decision.senderGroup == nil)
        #expect(decision.policyName == nil)
        #expect(table.evaluate(address: "not an address", reverseDNS: nil, verified: false).behaviour == .reject)
    }

    @Test func tcpRefuseAndCustomReject() throws {
        let table = try HostAccessTable(parsing: """
            BAD:
              198.51.100.0/24
                TCPREFUSE
            WORSE:
              198.51.101.0/24
                REJECT {reject_reply = "554 5.7.1 Go away"}
            """)
        #expect(table.evaluate(address: "198.51.100.9", reverseDNS: nil, verified: false).connectionDecision(defaultGreeting: "") == .refuse)
        let reject = table.evaluate(address: "198.51.101.9", reverseDNS: nil, verified: false)
        #expect(reject.connectionDecision(defaultGreeting: "") == .reject(SMTPReply(554, EnhancedStatusCode(5, 7, 1), "Go away")))
    }

    @Test(arguments: [
        ("$RELAYED\n  RELAY {}\nRELAYLIST:\n  10.1.2.3\n    $RELAYD\n", #"HAT line 5: unknown policy "$RELAYD" (defined: $RELAYED)"#),
        ("$RELAYED\n  RELAY {}\n$BLOCKED\n  REJECT {}\nL:\n  1.2.3.4\n    $RELAYD\n", #"HAT line 7: unknown policy "$RELAYD" (defined: $RELAYED, $BLOCKED)"#),
        ("$X\n  ACCEPT {\n  max_msgsize = 5}\n", #"HAT line 3: unknown parameter "max_msgsize""#),
        ("L:\n  10.1.2.300\n  ACCEPT {}\n", #"HAT line 2: "10.1.2.300" is not an IP address, CIDR or hostname"#),
        ("L:\n  10.0.0.0/33\n  ACCEPT {}\n", #"HAT line 2: "10.0.0.0/33" is not an IP address, CIDR or hostname"#),
        ("L:\n  2001:db8:::1\n  ACCEPT {}\n", #"HAT line 2: "2001:db8:::1" is not an IP address, CIDR or hostname"#),
        ("$X\n  ACCEPT {max_msg_size = 5X}\n", #"HAT line 2: max_msg_size: "5X" is not a size"#),
        ("$X\n  ACCEPT {tls = maybe}\n", #"HAT line 2: tls: "maybe" is not off, preferred or required"#),
        ("$X\n  ACCEPT {max_conn_per_ip = -1}\n", #"HAT line 2: max_conn_per_ip: "-1" is not a positive whole number"#),
        ("$X\n  REJECT {reject_reply = \"250 ok\"}\n", #"HAT line 2: reject_reply: "250 ok" is not an SMTP failure reply"#),
        ("$X\n  ACCEPT {max_msg_size = 1M, max_msg_size = 2M}\n", #"HAT line 2: parameter "max_msg_size" is given twice"#),
        ("$X\n  ACCEPT {\n", #"HAT line 2: "{" is never closed"#),
        ("$X\n  ALLOW {}\n", #"HAT line 2: policy "$X" needs a behaviour"#),
        ("$X\n  ACCEPT {}\n$X\n  REJECT {}\n", #"HAT line 3: policy "$X" is defined twice"#),
        ("L:\n  1.2.3.4\n", #"HAT line 1: sender group L has no policy"#),
        ("L:\n  1.2.3.4\nALL\n  REJECT {}\n", #"HAT line 3: sender group L (line 1) has no policy"#),
        ("ALL\n  REJECT {}\nL:\n  1.2.3.4\n    REJECT {}\n", #"HAT line 3: nothing after ALL (line 1) is ever reached"#),
        ("hello world\n", #"HAT line 1: expected a policy ($NAME), a sender group (NAME:) or ALL"#),
        ("ALL\n  $X junk\n", #"HAT line 2: "$X junk" is not a policy name"#),
        ("ALL\n  REJECT {} trailing\n", #"HAT line 2: unexpected "trailing" after the policy"#),
    ])
    func parseErrors(text: String, message: String) {
        #expect {
            _ = try HostAccessTable(parsing: text)
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.problems.count == 1 && error.problems[0].hasPrefix(message)
        }
    }

    @Test func commentsAndBlankLinesKeepLineNumbers() {
        #expect {
            _ = try HostAccessTable(parsing: "# HAT\n\n$X\n  ACCEPT {bogus = 1}\n")
        } throws: { error in
            (error as? ConfigurationError)?.problems.first?.hasPrefix("HAT line 4: unknown parameter \"bogus\"") == true
        }
    }

    @Test func roundTripSerialisation() throws {
        let quoted = """
            $QUOTED
              REJECT {smtp_banner_text = "a, b (c) \\\\ d", reject_reply = "550 5.7.1 No (really)"}

            """
        let table = try HostAccessTable(parsing: quoted + Self.example)
        #expect(table.policies.first?.parameters.bannerText == #"a, b (c) \ d"#)
        let text = table.text
        let again = try HostAccessTable(parsing: text)
        #expect(again == table)
        #expect(again.text == text)
        #expect(text.contains("max_msg_size = 5M"))
        #expect(text.contains("  .partner.example\n"))
        #expect(text.contains("    $RELAYED (Only select hosts can relay from this box)\n"))
    }

    @Test func roundTripOfTheExample() throws {
        let table = try HostAccessTable(parsing: Self.example)
        #expect(try HostAccessTable(parsing: table.text) == table)
    }

    @Test func valuesInitialiserChecksReferences() {
        #expect(throws: ConfigurationError.self) {
            _ = try HostAccessTable(policies: [], rules: [HostAccessRule(selector: .all, policy: .named("NOPE"))])
        }
    }
}
