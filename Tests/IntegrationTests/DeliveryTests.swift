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
        // The expiry is logged first, then its DSN is stored: wait for that too.
        try Harness.waitUntil("the expiry DSN", seconds: 90) {
            gateway.mailLogs.range(of: #"MID \d+ was generated for bounce of MID \d+"#, options: .regularExpression) != nil
        }
        let logs = gateway.mailLogs
        #expect(logs.contains("Connection Error: DCID"), "\(logs)")
        #expect(logs.contains("marked down after 3 connection failures"), "\(logs)")
        #expect(logs.range(of: #"MID \d+ was generated for bounce of MID \d+"#, options: .regularExpression) != nil, "\(logs)")
    }
}

/// STARTTLS on the delivery side: a gateway whose smarthost is a second
/// gateway (which offers STARTTLS with its self-signed certificate).
@Suite(.serialized)
struct DeliveryTLSTests {
    @Test("opportunistic TLS to the next hop encrypts without verifying")
    func opportunisticTLS() throws {
        let sink = try SMTPSink()
        let nextHop = try GatewayInstance(smarthostPort: sink.port)
        try nextHop.start()
        let gateway = try GatewayInstance(smarthostPort: nextHop.port, smarthostTLS: "opportunistic")
        try gateway.start()
        defer { gateway.stop(); nextHop.stop(); sink.stop() }

        let (status, output) = try Harness.run(try Harness.tool("swaks"), [
            "--server", "127.0.0.1:\(gateway.port)", "--from", "a@sender.example", "--to", "b@rcpt.example",
        ])
        #expect(status == 0, "\(output)")
        // smtp-sink writes its dump while we may read it: wait for the whole message (its end).
        try Harness.waitUntil("the message at smtp-sink after two hops") {
            sink.messages.count == 1 && sink.messages.first?.contains("(Lazaret) with ESMTP") == true
                && sink.messages.first?.contains("Message-Id:") == true
        }
        #expect(gateway.mailLogs.range(of: #"Info: DCID \d+ TLS success protocol TLSv1\.[23]"#, options: .regularExpression) != nil,
                "\(gateway.mailLogs)")
        #expect(nextHop.mailLogs.contains("TLS success protocol TLSv1."), "\(nextHop.mailLogs)")
        #expect(sink.messages.first?.contains("with ESMTPS id") == true, "the second hop received over TLS")
    }

    @Test("required TLS with an unverifiable certificate keeps the mail queued and says why")
    func requiredTLSFailsClosed() throws {
        let sink = try SMTPSink()
        let nextHop = try GatewayInstance(smarthostPort: sink.port)
        try nextHop.start()
        let gateway = try GatewayInstance(smarthostPort: nextHop.port, smarthostTLS: "required")
        try gateway.start()
        defer { gateway.stop(); nextHop.stop(); sink.stop() }

        let (status, output) = try Harness.run(try Harness.tool("swaks"), [
            "--server", "127.0.0.1:\(gateway.port)", "--from", "a@sender.example", "--to", "b@rcpt.example",
        ])
        #expect(status == 0, "\(output)")
        try Harness.waitUntil("the TLS failure in mail_logs") {
            gateway.mailLogs.contains("TLS was required but could not be successfully negotiated")
        }
        let logs = gateway.mailLogs
        #expect(logs.range(of: #"Info: DCID \d+ TLS failed: verify error"#, options: .regularExpression) != nil, "\(logs)")
        #expect(!logs.contains("Message finished MID"), "the message must stay queued: \(logs)")
        #expect(!nextHop.mailLogs.contains(" ready "), "nothing may reach the next hop in plain text")
        #expect(sink.messages.isEmpty)
    }
}

/// SMTPUTF8 (RFC 6531) end to end: Python's smtplib sends a UTF-8 recipient with
/// SMTPUTF8; smtp-sink does not offer SMTPUTF8, so the gateway must not send it there:
/// it bounces with 5.6.7 and the ASCII sender gets a DSN.
@Suite(.serialized)
struct SMTPUTF8Tests {
    @Test("a message needing SMTPUTF8 is never sent to a host without it")
    func smtpUTF8NeedsTheExtension() throws {
        let sink = try SMTPSink()
        let gateway = try GatewayInstance(smarthostPort: sink.port)
        try gateway.start()
        defer { gateway.stop(); sink.stop() }
        let script = """
            import smtplib
            s = smtplib.SMTP('127.0.0.1', \(gateway.port))
            s.ehlo()
            assert s.has_extn('smtputf8'), 'the gateway must offer SMTPUTF8'
            s.sendmail('alice@sender.example', ['jürgen@rcpt.example'],
                       'Subject: grüße\\r\\n\\r\\nhallo\\r\\n'.encode('utf-8'), mail_options=['SMTPUTF8', 'BODY=8BITMIME'])
            s.quit()
            print('sent')
            """
        let (status, output) = try Harness.run(try Harness.tool("python3"), ["-c", script])
        #expect(status == 0 && output.contains("sent"), "\(output)")
        try Harness.waitUntil("the 5.6.7 bounce and its DSN") {
            gateway.mailLogs.range(of: #"MID \d+ was generated for bounce of MID \d+"#, options: .regularExpression) != nil
        }
        let logs = gateway.mailLogs
        #expect(logs.range(of: #"Bounced: DCID \d+ MID \d+ to RID \[0\] - 5\.6\.7"#, options: .regularExpression) != nil, "\(logs)")
        try Harness.waitUntil("the DSN at the sink") { sink.messages.contains { $0.contains("X-Rcpt-Args: <alice@sender.example>") } }
        #expect(!sink.messages.contains { $0.contains("hallo") && !$0.contains("multipart/report") },
                "the SMTPUTF8 message itself must not reach a host without SMTPUTF8")
    }
}
