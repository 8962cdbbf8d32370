import CPQTLS
import Foundation
import MailLog
import NIOConcurrencyHelpers
import Spool
import Testing
@testable import Manager

/// Where releases go: a cpq_listener set by hand wins; otherwise the gateway is asked over
/// SSH (here a stand-in for the SSH client, this being a unit test of `GatewayRoutes`),
/// the answer is kept for the TTL, and failures say why and are logged once.
@Suite struct GatewayRoutesTests {
    static let answer = #"{"interfaces":[{"name":"Management","address":"10.0.0.5"}],"listeners":[{"name":"inbound","kind":"smtp","interface":"Management","address":"10.0.0.5","port":25},{"name":"cpq_listener","kind":"cpq","interface":"Management","address":"10.0.0.5","port":7125}]}"#
    let ssh = PairingRecord.SSHEndpoint(host: "10.0.0.5", port: 2222, hostKey: "ssh-ed25519 AAAA")

    final class Clock: Sendable {
        let value = NIOLockedValueBox(ContinuousClock.now)
        func advance(_ d: Duration) { value.withLockedValue { $0 += d } }
    }

    @Test func aListenerSetByHandWinsAndSSHIsNotAsked() async throws {
        let asked = NIOLockedValueBox(0)
        let routes = GatewayRoutes(query: { _, _ in asked.withLockedValue { $0 += 1 }; return Self.answer }, log: MailLog(inMemoryKeeping: 10))
        let record = PairingRecord(gatewayName: "gw1", cpqListener: .init(host: "192.0.2.7", port: 7300), ssh: ssh, pairedAt: Date())
        #expect(try await routes.route(for: record) == DeliveryRoute(host: "192.0.2.7", port: 7300))
        #expect(asked.withLockedValue { $0 } == 0)
    }

    @Test func theGatewayIsAskedOverSSHAndTheAnswerKeptForTheTTL() async throws {
        let asked = NIOLockedValueBox<[String]>([])
        let clock = Clock()
        let log = MailLog(inMemoryKeeping: 10)
        let routes = GatewayRoutes(query: { endpoint, command in
            asked.withLockedValue { $0.append("\(endpoint.host):\(endpoint.port) \(command)") }
            return Self.answer
        }, ttl: .seconds(60), log: log, now: { clock.value.withLockedValue { $0 } })
        let record = PairingRecord(gatewayName: "gw1", ssh: ssh, pairedAt: Date())
        #expect(try await routes.route(for: record) == DeliveryRoute(host: "10.0.0.5", port: 7125))
        #expect(try await routes.route(for: record) == DeliveryRoute(host: "10.0.0.5", port: 7125))
        #expect(asked.withLockedValue { $0 } == ["10.0.0.5:2222 interfaceconfig --json"])
        clock.advance(.seconds(61))
        _ = try await routes.route(for: record)
        #expect(asked.withLockedValue { $0.count } == 2)
        #expect(log.recentLines.filter { $0.contains("Gateway gw1 told over SSH that its cpq_listener is 10.0.0.5 port 7125") }.count == 1)
    }

    @Test func sshFailuresSayWhyAndAreLoggedOnceUntilItWorksAgain() async throws {
        let broken = NIOLockedValueBox(true)
        let log = MailLog(inMemoryKeeping: 20)
        let routes = GatewayRoutes(query: { _, _ in
            if broken.withLockedValue({ $0 }) { throw GatewayRouteError("connection refused") }
            return Self.answer
        }, log: log)
        let record = PairingRecord(gatewayName: "gw1", ssh: ssh, pairedAt: Date())
        for _ in 0..<3 {
            await #expect(throws: GatewayRouteError.self) { try await routes.route(for: record) }
        }
        do {
            _ = try await routes.route(for: record)
        } catch {
            #expect("\(error)" == "gateway gw1: cannot learn its cpq_listener over SSH at 10.0.0.5 port 2222: connection refused")
        }
        let warnings = log.recentLines.filter { $0.contains("Warning:") }
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("they wait in the.cpq.release.host and are retried") == true)
        broken.withLockedValue { $0 = false }
        #expect(try await routes.route(for: record).port == 7125)
        #expect(log.recentLines.contains { $0.contains("Gateway gw1 answers over SSH again") })
    }

    @Test func withoutSSHOrListenerTheErrorSaysWhatToDo() async {
        let routes = GatewayRoutes(query: nil, log: MailLog(inMemoryKeeping: 10))
        do {
            _ = try await routes.route(for: PairingRecord(gatewayName: "gw2", pairedAt: Date()))
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("lazaret manager pair --name gw2 --cpq-listener HOST:PORT"))
        }
    }

    @Test func answersAreReadStrictly() throws {
        #expect(try GatewayRoutes.cpqListener(in: #"[{"name":"cpq_listener","address":"0.0.0.0","port":"7025"}]"#, sshHost: "gw.example")
            == DeliveryRoute(host: "gw.example", port: 7025))
        #expect(throws: GatewayRouteError.self) { try GatewayRoutes.cpqListener(in: "Usage: interfaceconfig", sshHost: "h") }
        #expect(throws: GatewayRouteError.self) {
            try GatewayRoutes.cpqListener(in: #"{"listeners":[{"name":"inbound","kind":"smtp","port":25}]}"#, sshHost: "h")
        }
        #expect(throws: GatewayRouteError.self) {
            try GatewayRoutes.cpqListener(in: #"{"listeners":[{"kind":"cpq","port":70000}]}"#, sshHost: "h")
        }
    }
}
