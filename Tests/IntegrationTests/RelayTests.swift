import Foundation
import Testing

/// Real peers through the real gateway: swaks and smtp-source in, smtp-sink out.
@Suite(.serialized)
struct RelayTests {
    @Test("swaks with STARTTLS relays one message through the gateway to smtp-sink, once")
    func swaksWithStartTLS() throws {
        let sink = try SMTPSink()
        let gateway = try GatewayInstance(smarthostPort: sink.port)
        try gateway.start()
        defer { gateway.stop(); sink.stop() }

        let (status, output) = try Harness.run(try Harness.tool("swaks"), [
            "--server", "127.0.0.1:\(gateway.port)", "--tls",
            "--from", "alice@sender.example", "--to", "bob@rcpt.example",
            "--header", "Subject: swaks over TLS", "--body", "hello through lazaret",
        ])
        #expect(status == 0, "swaks failed: \(output)")
        #expect(output.contains("<-  220 2.0.0 Ready to start TLS"), "STARTTLS was not accepted: \(output)")
        #expect(output.contains("<~  250 2.0.0 Ok: queued as MID"), "the message was not queued over TLS: \(output)")

        try Harness.waitUntil("the message at smtp-sink") { sink.messages.count >= 1 }
        try Harness.waitUntil("Message finished in mail_logs") { gateway.mailLogs.contains("Message finished MID") }
        let messages = sink.messages
        #expect(messages.count == 1)
        let message = try #require(messages.first)
        #expect(message.contains("X-Rcpt-Args: <bob@rcpt.example>"))
        #expect(message.contains("Subject: swaks over TLS"))
        #expect(message.contains("with ESMTPS id"), "the Received header should say the message came in over TLS")

        let logs = gateway.mailLogs
        #expect(logs.contains("Info: New SMTP ICID"))
        #expect(logs.contains("TLS success protocol TLSv1."))
        #expect(logs.range(of: #"Info: Start MID \d+ ICID \d+"#, options: .regularExpression) != nil)
        #expect(logs.range(of: #"Info: MID \d+ ICID \d+ From: <alice@sender.example>"#, options: .regularExpression) != nil)
        #expect(logs.range(of: #"Info: MID \d+ ICID \d+ RID 0 To: <bob@rcpt.example>"#, options: .regularExpression) != nil)
        #expect(logs.range(of: #"Info: New SMTP DCID \d+ interface 127.0.0.1 address 127.0.0.1 port \d+"#, options: .regularExpression) != nil)
        #expect(logs.range(of: #"Info: Delivery start DCID \d+ MID \d+ to RID \[0\]"#, options: .regularExpression) != nil)
        #expect(logs.range(of: #"Info: Message done DCID \d+ MID \d+ to RID \[0\]"#, options: .regularExpression) != nil)
        #expect(logs.range(of: #"Info: MID \d+ RID \[0\] Response '2\.0\.0"#, options: .regularExpression) != nil)
        #expect(logs.range(of: #"Info: ICID \d+ close"#, options: .regularExpression) != nil)
    }

    @Test("smtp-source: 20 sessions, 400 messages, every accepted message arrives exactly once")
    func smtpSourceLoad() throws {
        let sink = try SMTPSink()
        let gateway = try GatewayInstance(smarthostPort: sink.port)
        try gateway.start()
        defer { gateway.stop(); sink.stop() }

        let count = 400
        let (status, output) = try Harness.run(try Harness.tool("smtp-source"), [
            "-s", "20", "-m", "\(count)", "-l", "4096", "-f", "load@sender.example", "-t", "sink@rcpt.example",
            "127.0.0.1:\(gateway.port)",
        ], timeout: 300)
        #expect(status == 0, "smtp-source reported errors: \(output)")

        try Harness.waitUntil("\(count) messages at smtp-sink", seconds: 120) { sink.deliveredMIDs.count >= count }
        // Give a duplicate a chance to show up before counting.
        try Harness.waitUntil("an idle delivery queue") {
            gateway.mailLogs.components(separatedBy: "Message finished MID").count - 1 >= count
        }
        let mids = sink.deliveredMIDs
        #expect(mids.count == count)
        #expect(Set(mids).count == mids.count, "a message was delivered twice")
        #expect(!gateway.mailLogs.contains("Critical:"))
    }
}
