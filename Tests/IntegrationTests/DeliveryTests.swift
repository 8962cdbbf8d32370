import Foundation
import Testing

/// The delivery queue against a smarthost that refuses, and one that is gone.
@Suite(.serialized)
struct DeliveryTests {
    @Test("a hard bounce at the smarthost produces a DSN to the sender")
    func hardBounceMakesDSN() throws {
        let sink = try SMTPSink(extraArguments: ["-B", "550 5.1.1 No such user here", "-f", "RCPT"])
        let gateway = try GatewayInstance(smarthostPort: sink.port)
        try gateway.start()
        defer { gateway.stop(); sink.stop() }

        let (status, output) = try Harness.run(try Harness.tool("swaks"), [
            "--server", "127.0.0.1:\(gateway.port)", "--from", "alice@sender.example", "--to", "nobody@rcpt.example",
            "--header", "Subject: will bounce",
        ])
        #expect(status == 0, "\(output)")
        try Harness.waitUntil("the bounce and its DSN in mail_logs") {
            gateway.mailLogs.range(of: #"MID \d+ was generated for bounce of MID \d+"#, options: .regularExpression) != nil
        }
        let logs = gateway.mailLogs
        #expect(logs.range(of: #"Info: Bounced: DCID \d+ MID \d+ to RID \[0\] - 5\.1\.1"#, options: .regularExpression) != nil, "\(logs)")
        #expect(logs.range(of: #"MID \d+ From: <> To: <alice@sender.example>"#, options: .regularExpression) != nil, "\(logs)")
        // The DSN itself goes to the same refusing smarthost; a bounce of a bounce is never sent.
        try Harness.waitUntil("the DSN's own bounce to be dropped") { gateway.mailLogs.contains("bounce not sent: the sender is null") }
    }

    @Test("with the smarthost down the host is marked down and the message expires with a DSN")
    func expiryWhenHostDown() throws {
        let downPort = Harness.freePort()
        let gateway = try GatewayInstance(smarthostPort: downPort, delivery: "  max_queue_lifetime_s: 4")
        try gateway.start()
        defer { gateway.stop() }

        let (status, output) = try Harness.run(try Harness.tool("swaks"), [
            "--server", "127.0.0.1:\(gateway.port)", "--from", "alice@sender.example", "--to", "bob@rcpt.example",
        ])
        #expect(status == 0, "\(output)")
        try Harness.waitUntil("the expiry bounce", seconds: 90) {
            gateway.mailLogs.range(of: #"Bounced: MID \d+ to RID \[0\] - 5\.4\.7"#, options: .regularExpression) != nil
        }
        let logs = gateway.mailLogs
        #expect(logs.contains("Connection Error: DCID"), "\(logs)")
        #expect(logs.contains("marked down after 3 connection failures"), "\(logs)")
        #expect(logs.range(of: #"MID \d+ was generated for bounce of MID \d+"#, options: .regularExpression) != nil, "\(logs)")
    }
}
