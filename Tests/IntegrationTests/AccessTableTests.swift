import Foundation
import Testing

/// HAT REJECT / TCPREFUSE / RELAY / ACCEPT and RAT REJECT, as real clients see them.
/// Loopback has the whole 127.0.0.0/8, so each client binds its own source address.
@Suite(.serialized)
struct AccessTableTests {
    static let hat = """
        $RELAYED
          RELAY {}
        $ACCEPTED
          ACCEPT {max_rcpts_per_msg = 2}
        $BLOCKED
          REJECT {}
        RELAYLIST:
          127.0.0.1
            $RELAYED (relays for anyone)
        ACCEPTLIST:
          127.0.0.4
            $ACCEPTED (only for our domains)
        REFUSED:
          127.0.0.3
            TCPREFUSE {} (dropped without a word)
        ALL
          $BLOCKED (everyone else)
        """
    static let rat = """
        rcpt.example   ACCEPT
        ALL            REJECT
        """

    /// Prints one line per probe: `name code text` or `name DISCONNECTED`.
    static let probe = #"""
import smtplib, sys
port = int(sys.argv[1])
def attempt(name, source, fn):
    try:
        s = smtplib.SMTP(timeout=30, source_address=(source, 0))
        code, msg = s.connect("127.0.0.1", port)
        print(name, "banner", code, msg.decode(errors="replace").replace("\n", " "), flush=True)
        if code != 220:
            s.close(); return
        s.ehlo("probe.test")
        fn(name, s)
        s.quit()
    except smtplib.SMTPServerDisconnected:
        print(name, "DISCONNECTED", flush=True)
    except ConnectionError:
        print(name, "DISCONNECTED", flush=True)
def rcpts(addresses):
    def fn(name, s):
        s.mail("sender@outside.example")
        for a in addresses:
            code, msg = s.rcpt(a)
            print(name, a, code, msg.decode(errors="replace"), flush=True)
    return fn
attempt("relay", "127.0.0.1", rcpts(["anyone@elsewhere.example"]))
attempt("accept", "127.0.0.4", rcpts(["bob@rcpt.example", "eve@elsewhere.example", "carol@rcpt.example", "dave@rcpt.example"]))
attempt("tcprefuse", "127.0.0.3", rcpts(["x@rcpt.example"]))
"""#

    @Test("HAT and RAT decisions reach real clients with the right replies")
    func accessTables() throws {
        let sink = try SMTPSink()
        let gateway = try GatewayInstance(smarthostPort: sink.port, hat: Self.hat, rat: Self.rat)
        try gateway.start()
        defer { gateway.stop(); sink.stop() }

        // REJECT: swaks from 127.0.0.2 sees a 554 banner and gives up.
        let (swaksStatus, swaksOutput) = try Harness.run(try Harness.tool("swaks"), [
            "--server", "127.0.0.1:\(gateway.port)", "--local-interface", "127.0.0.2",
            "--from", "a@outside.example", "--to", "b@rcpt.example",
        ])
        #expect(swaksStatus != 0)
        #expect(swaksOutput.contains("<** 554"), "expected a 554 banner for a HAT REJECT: \(swaksOutput)")

        let (status, output) = try Harness.run(try Harness.tool("python3"), ["-c", Self.probe, "\(gateway.port)"])
        #expect(status == 0, "probe failed: \(output)")
        let lines = output.split(separator: "\n").map(String.init)
        func line(_ prefix: String) -> String? { lines.first { $0.hasPrefix(prefix) } }

        #expect(line("relay banner")?.hasPrefix("relay banner 220") == true, "\(output)")
        #expect(line("relay anyone@elsewhere.example")?.contains(" 250 ") == true, "RELAY skips the RAT: \(output)")

        #expect(line("accept bob@rcpt.example")?.contains(" 250 ") == true, "\(output)")
        #expect(line("accept eve@elsewhere.example")?.contains(" 550 5.7.1") == true, "RAT REJECT: \(output)")
        #expect(line("accept carol@rcpt.example")?.contains(" 250 ") == true, "\(output)")
        #expect(line("accept dave@rcpt.example")?.contains(" 452 4.5.3") == true, "max_rcpts_per_msg = 2: \(output)")

        #expect(line("tcprefuse DISCONNECTED") != nil, "TCPREFUSE closes without a banner: \(output)")

        let logs = gateway.mailLogs
        #expect(logs.contains("REJECT SG ALL"), "\(logs)")
        #expect(logs.contains("TCPREFUSE SG REFUSED"), "\(logs)")
        #expect(logs.contains("RELAY SG RELAYLIST"), "\(logs)")
        #expect(logs.contains("ACCEPT SG ACCEPTLIST"), "\(logs)")
    }
}
