import Crypto
import Foundation
import NIOCore
import NIOPosix
import Testing
@testable import AdminCLI

/// SSHCommandClient against a real SSHAdminServer (and a key made by ssh-keygen).
@Suite struct SSHCommandClientTests {
    private func withFixture(_ body: (SSHFixture) async throws -> Void) async throws {
        try await withTemporaryDirectory { directory in
            let fixture = try await SSHFixture.start(in: directory)
            do {
                try await body(fixture)
            } catch {
                await fixture.server.close()
                throw error
            }
            await fixture.server.close()
        }
    }

    private func client(_ fixture: SSHFixture, user: String = "rita", keyFile: String? = nil,
                        pinned: String? = nil, timeout: TimeAmount = .seconds(120)) throws -> SSHCommandClient {
        let key = try SSHHostKey.load(path: keyFile ?? fixture.ritaKey).privateKey()
        return SSHCommandClient(host: "127.0.0.1", port: fixture.server.port, user: user, key: key,
                                pinnedHostKey: try PinnedHostKey(pinned ?? fixture.server.hostKey.publicKeyLine), timeout: timeout)
    }

    @Test("runs a command: exit status, stdout and stderr; pinned by line or by fingerprint")
    func runs() async throws {
        try await withFixture { fixture in
            let ok = try await client(fixture).run("status")
            #expect(ok == SSHCommandResult(exitStatus: 0, stdout: "Listeners: Online\n", stderr: ""))
            let failed = try await client(fixture, pinned: fixture.server.hostKey.fingerprint).run("deleterecipients --yes")
            #expect(failed.exitStatus == 1 && failed.stdout.isEmpty)
            #expect(failed.stderr.contains("permission denied"), "\(failed.stderr)")
            // A key made by ssh-keygen works too.
            let alice = try await client(fixture, user: "alice", keyFile: fixture.aliceKey).run("echo 'a b' c")
            #expect(alice == SSHCommandResult(exitStatus: 0, stdout: "a b\nc\n", stderr: ""))
        }
    }

    @Test("a host key other than the pinned one: refused naming both fingerprints, no command sent")
    func hostKeyMismatch() async throws {
        try await withFixture { fixture in
            let other = SSHHostKey(Curve25519.Signing.PrivateKey())
            do {
                _ = try await client(fixture, pinned: other.publicKeyLine).run("status")
                Issue.record("connected to a server with another host key")
            } catch let error as SSHError {
                #expect(error.code == .hostKeyMismatch)
                #expect(error.message.contains("expected \(other.fingerprint)"), "\(error)")
                #expect(error.message.contains("presented \(fixture.server.hostKey.fingerprint)"), "\(error)")
            }
            #expect(!fixture.log.all.contains { $0.hasPrefix("SSH login") || $0.hasPrefix("SSH command") }, "\(fixture.log.all)")
        }
    }

    @Test("a key the user does not have: authentication refused, saying what to do")
    func wrongKey() async throws {
        try await withFixture { fixture in
            do {
                _ = try await client(fixture, user: "rita", keyFile: fixture.malloryKey).run("status")
                Issue.record("logged in with the wrong key")
            } catch let error as SSHError {
                #expect(error.code == .authenticationRefused, "\(error)")
                #expect(error.message.contains("authorized_keys"), "\(error)")
            }
            #expect(!fixture.log.all.contains { $0.hasPrefix("SSH command") })
        }
    }

    @Test("nothing listening: connection refused, naming the address")
    func nothingListening() async throws {
        // A port that was free a moment ago: bind, note it, close.
        let probe = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = probe.localAddress!.port!
        try await probe.close()
        let client = SSHCommandClient(host: "127.0.0.1", port: port, user: "rita", key: Curve25519.Signing.PrivateKey(),
                                      pinnedHostKey: try PinnedHostKey("SHA256:AAAA"), timeout: .seconds(120))
        do {
            _ = try await client.run("status")
            Issue.record("ran a command with nothing listening")
        } catch let error as SSHError {
            #expect(error.code == .connectionRefused)
            #expect(error.message.contains("127.0.0.1:\(port)"), "\(error)")
        }
    }

    @Test("a server that never speaks SSH: timed out, not hung")
    func timeout() async throws {
        // Accepts connections and says nothing.
        let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let client = SSHCommandClient(host: "127.0.0.1", port: silent.localAddress!.port!, user: "rita",
                                      key: Curve25519.Signing.PrivateKey(), pinnedHostKey: try PinnedHostKey("SHA256:AAAA"),
                                      timeout: .seconds(1))
        do {
            _ = try await client.run("status")
            Issue.record("a silent server answered")
        } catch let error as SSHError {
            #expect(error.code == .timedOut, "\(error)")
        }
        try await silent.close()
    }
}
