import NIOCore
import NIOPosix
import NIOSSL
import Testing
@testable import SMTPProtocol

/// The client against a scripted peer on 127.0.0.1: timeouts, STARTTLS
/// hygiene and transaction edge cases that our own server never produces.
@Suite(.timeLimit(.minutes(2)))
struct SMTPClientConnectionTests {
    let group = MultiThreadedEventLoopGroup.singleton

    func connect(_ peer: ScriptedSMTPPeer, _ options: SMTPClientOptions) async throws -> SMTPClientConnection {
        try await SMTPClientConnection.connect(host: "127.0.0.1", port: peer.port, group: group, options: options)
    }

    /// Runs `body` with a peer playing `script`; the peer is closed afterwards, also on failure.
    func withPeer(_ script: ScriptedSMTPPeer.Script = .init(), _ body: (ScriptedSMTPPeer) async throws -> Void) async throws {
        let peer = try await ScriptedSMTPPeer(script)
        do {
            try await body(peer)
        } catch {
            await peer.close()
            throw error
        }
        await peer.close()
    }

    @Test func tlsHandshakeThatNeverFinishesTimesOut() async throws {
        // The peer says 220 to STARTTLS, then never answers the ClientHello.
        try await withPeer { peer in
            let options = SMTPClientOptions(localHostname: "client.test", tlsContext: try unverifiedClientContext(),
                                            tlsHandshakeTimeout: .milliseconds(200))
            let result = await finishing(within: 180, unblock: { await peer.close() }) {
                try await connect(peer, options)
            }
            guard case .failure(let error) = result, case SMTPClientError.tlsFailed(let why) = error else {
                Issue.record("expected a TLS failure, got \(result)")
                return
            }
            #expect(why.contains("handshake"))
            #expect(peer.received.contains { $0.hasSuffix("octets after STARTTLS>") }, "the client did start the handshake")
        }
    }

    @Test func setupDeadlineBoundsASilentServer() async throws {
        var script = ScriptedSMTPPeer.Script()
        script.greeting = nil
        try await withPeer(script) { peer in
            let options = SMTPClientOptions(localHostname: "client.test", setupTimeout: .milliseconds(200))
            let result = await finishing(within: 180, unblock: { await peer.close() }) {
                try await connect(peer, options)
            }
            guard case .failure(let error) = result, case SMTPClientError.timeout(let stage) = error else {
                Issue.record("expected a timeout, got \(result)")
                return
            }
            #expect(stage.contains("connection setup"))
        }
    }

    /// The deadline may close the connection before `connect` even looks at it (a loaded
    /// machine): the caller still learns it was the setup deadline.
    @Test func aDeadlineThatFiresAtOnceIsStillReportedAsTheDeadline() async throws {
        var script = ScriptedSMTPPeer.Script()
        script.greeting = nil
        try await withPeer(script) { peer in
            for _ in 0..<20 {
                let options = SMTPClientOptions(localHostname: "client.test", setupTimeout: .nanoseconds(1))
                let result = await finishing(within: 180, unblock: { await peer.close() }) {
                    try await connect(peer, options)
                }
                guard case .failure(let error) = result, case SMTPClientError.timeout(let stage) = error else {
                    Issue.record("expected the setup deadline, got \(result)")
                    return
                }
                #expect(stage.contains("connection setup"))
            }
        }
    }

    @Test func plaintextAfterTheStartTLSReplyIsDroppedUnread() async throws {
        let certificate = try TestCertificate()
        var script = ScriptedSMTPPeer.Script()
        script.injectedAfterStartTLS = "250-injected\r\n250 AUTH PLAIN\r\n250 2.0.0 also injected\r\n250 par"
        script.tlsContext = try certificate.serverContext()
        try await withPeer(script) { peer in
            let options = SMTPClientOptions(localHostname: "client.test", tlsContext: try unverifiedClientContext())
            let result = await finishing(within: 180, unblock: { await peer.close() }) {
                try await connect(peer, options)
            }
            let connection = try result.get()
            #expect(connection.tlsProtocol?.hasPrefix("TLSv1.") == true)
            #expect(connection.extensions.size == 1000, "the EHLO reply read is the one sent inside TLS")
            #expect(peer.received == ["EHLO client.test", "STARTTLS", "EHLO client.test"])
            await connection.quit()
        }
    }

    @Test func requiredTLSWithoutAContextNeverConnects() async throws {
        try await withPeer { peer in
            let options = SMTPClientOptions(localHostname: "client.test", tlsContext: nil, tlsRequired: true)
            await #expect(throws: SMTPClientError.tlsFailed("TLS is required but no TLS client context is available")) {
                _ = try await connect(peer, options)
            }
            #expect(peer.connections == 0 && peer.received.isEmpty, "nothing may be said in plain text")
        }
    }

    @Test func quitDoesNotWaitForTheReplyTimeout() async throws {
        var script = ScriptedSMTPPeer.Script()
        script.quit = nil
        try await withPeer(script) { peer in
            let connection = try await connect(peer, SMTPClientOptions(localHostname: "client.test", quitTimeout: .milliseconds(200)))
            _ = await finishing(within: 180, unblock: { await peer.close() }) {
                await connection.quit()
            }
            #expect(!connection.isActive)
            #expect(peer.received.last == "QUIT")
        }
    }

    @Test func pipelined354ForNobodyGetsAnEmptyMessageThenRSET() async throws {
        var script = ScriptedSMTPPeer.Script()
        script.rcpt = "550 5.1.1 No such user\r\n"
        script.endOfData = "554 5.5.1 No valid recipients\r\n"
        try await withPeer(script) { peer in
            let connection = try await connect(peer, SMTPClientOptions(localHostname: "client.test", replyTimeout: .seconds(5)))
            let results = await connection.deliver(mailFrom: "a@x.test", recipients: ["b@y.test"],
                                                   body: ByteBuffer(string: "Subject: x\r\n\r\nhi\r\n"))
            #expect(results == [.failed(SMTPReply(550, EnhancedStatusCode(5, 1, 1), "No such user"))])
            #expect(Array(peer.received.suffix(4)) == ["RCPT TO:<b@y.test>", "DATA", "<data 0 lines>", "RSET"])
            #expect(connection.isActive, "the connection stays usable")
            await connection.quit()
        }
    }

    @Test func withoutPipeliningARefusedMailSendsNoRcptOrData() async throws {
        var script = ScriptedSMTPPeer.Script()
        script.ehlo = "250 peer.test\r\n"
        script.mail = "451 4.3.0 Try later\r\n"
        try await withPeer(script) { peer in
            let connection = try await connect(peer, SMTPClientOptions(localHostname: "client.test", replyTimeout: .seconds(5)))
            let results = await connection.deliver(mailFrom: "a@x.test", recipients: ["b@y.test"], body: ByteBuffer(string: "x\r\n"))
            #expect(results == [.deferred(SMTPReply(451, EnhancedStatusCode(4, 3, 0), "Try later"))])
            #expect(peer.received == ["EHLO client.test", "MAIL FROM:<a@x.test>", "RSET"])
            await connection.quit()
        }
    }

    @Test func withoutPipeliningNoAcceptedRecipientSkipsData() async throws {
        var script = ScriptedSMTPPeer.Script()
        script.ehlo = "250 peer.test\r\n"
        script.rcpt = "550 5.1.1 No such user\r\n"
        try await withPeer(script) { peer in
            let connection = try await connect(peer, SMTPClientOptions(localHostname: "client.test", replyTimeout: .seconds(5)))
            _ = await connection.deliver(mailFrom: "a@x.test", recipients: ["b@y.test", "c@y.test"], body: ByteBuffer(string: "x\r\n"))
            #expect(peer.received == ["EHLO client.test", "MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test>", "RCPT TO:<c@y.test>", "RSET"])
            await connection.quit()
        }
    }
}
