import Foundation
import NIOCore
@testable import Scanning
import Testing

/// The clamd client against a real clamd (started by the test with a one-line EICAR
/// signature database).
@Suite(.serialized) struct ClamdClientTests {
    static func mail(attachment: String, name: String, padding: Int = 0) -> ByteBuffer {
        let encoded = Data(attachment.utf8).base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
        return ByteBuffer(string: """
            From: a@example.org\r
            To: b@example.org\r
            Subject: test\r
            MIME-Version: 1.0\r
            Content-Type: multipart/mixed; boundary="b1"\r
            \r
            --b1\r
            Content-Type: text/plain\r
            \r
            see attached\r
            \(String(repeating: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n", count: padding))\r
            --b1\r
            Content-Type: application/octet-stream; name="\(name)"\r
            Content-Disposition: attachment; filename="\(name)"\r
            Content-Transfer-Encoding: base64\r
            \r
            \(encoded)\r
            --b1--\r

            """)
    }

    @Test func verdictsFromARealClamd() async throws {
        let clamd = try Clamd()
        defer { clamd.stop() }
        let client = ClamdClient(address: .unix(path: clamd.socketPath), timeout: .seconds(60), chunkSize: 1024)
        // A clamd that has just loaded its signatures on a busy machine may drop the first
        // session: wait for PONG (a condition, with a generous bound), then check the rest.
        var answered = await client.ping()
        for _ in 0..<120 where !answered {
            try await Task.sleep(for: .seconds(1))
            answered = await client.ping()
        }
        #expect(answered, "clamd at \(clamd.socketPath) never answered PING through the client")
        #expect(try await client.version().hasPrefix("ClamAV "))
        #expect(await client.scan(Self.mail(attachment: "hello, nothing to see", name: "note.txt")) == .clean)
        let infected = await client.scan(Self.mail(attachment: Clamd.eicar, name: "eicar.com"))
        guard case .infected(let names) = infected else {
            Issue.record("expected infected, got \(infected)")
            return
        }
        #expect(names.count == 1 && names[0].hasPrefix("Eicar-Test-Signature"))
        // A message of many chunks reaches clamd intact (the attachment starts 64 KB in).
        let big = Self.mail(attachment: Clamd.eicar, name: "eicar.com", padding: 1000)
        #expect(big.readableBytes > 64 * 1024)
        #expect(await client.scan(big) != .clean)
        #expect(await client.scan(Self.mail(attachment: "harmless", name: "a.txt", padding: 1000)) == .clean)
    }

    /// Scans share pooled IDSESSION connections; when clamd goes away and comes back,
    /// the next scan quietly opens a new one.
    @Test func sessionsAreReusedAndRenewed() async throws {
        let clamd = try Clamd()
        defer { clamd.stop() }
        let client = ClamdClient(address: .unix(path: clamd.socketPath), timeout: .seconds(60))
        for _ in 0..<5 {
            #expect(await client.scan(Self.mail(attachment: "hello", name: "a.txt")) == .clean)
        }
        #expect(client.pool.idleStates == [true], "five sequential scans should share one connection")
        clamd.stop()
        try Harness.waitUntil("the pooled session to see clamd gone", seconds: 60) { client.pool.idleStates == [false] }
        try clamd.start()
        #expect(await client.scan(Self.mail(attachment: Clamd.eicar, name: "eicar.com")) != .clean)
        #expect(client.pool.idleStates == [true])
        client.closeIdleConnections()
        #expect(client.pool.idleStates.isEmpty)
    }

    @Test func clamdDownIsUnavailableNeverClean() async throws {
        let clamd = try Clamd()
        clamd.stop()
        let client = ClamdClient(address: .unix(path: clamd.socketPath), timeout: .seconds(10))
        let verdict = await client.scan(Self.mail(attachment: "hello", name: "a.txt"))
        guard case .unavailable(let reason) = verdict else {
            Issue.record("expected unavailable, got \(verdict)")
            return
        }
        #expect(reason.contains("cannot connect to clamd"))
        #expect(await client.ping() == false)
    }

    /// A clamd that accepts the connection and never answers costs at most the timeout.
    @Test func hungClamdTimesOut() async throws {
        let directory = try Harness.makeTempDirectory("hung")
        let path = directory + "/hung.sock"
        let listener = try Background(try Harness.tool("python3"), ["-c", """
            import socket, time
            s = socket.socket(socket.AF_UNIX); s.bind('\(path)'); s.listen(5)
            conns = []
            while True:
                c, _ = s.accept(); conns.append(c)
            """], logPath: directory + "/py.log")
        defer { listener.kill9() }
        try Harness.waitUntil("the hung socket", seconds: 30) { FileManager.default.fileExists(atPath: path) }
        let client = ClamdClient(address: .unix(path: path), timeout: .milliseconds(500))
        let verdict = await client.scan(ByteBuffer(string: "hello"))
        guard case .unavailable(let reason) = verdict else {
            Issue.record("expected unavailable, got \(verdict)")
            return
        }
        #expect(reason.contains("no answer from clamd"))
    }
}
