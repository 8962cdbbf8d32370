import CPQTLS
import Foundation
import MailLog
import NIOConcurrencyHelpers
import Spool

/// Where each paired gateway's cpq_listener takes releases, as the release queue asks
/// before each new connection.
///
/// A cpq_listener set by hand in the pairing record (`lazaret manager pair --cpq-listener`)
/// wins. Otherwise the manager asks the gateway itself, over SSH with the host key pinned
/// at pairing (`interfaceconfig --json`), and keeps the answer for `ttl` so a bulk release
/// does not ask for every message. When SSH fails the error says why, the release stays
/// in `the.cpq.release.host`, and the next attempt asks again.
final class GatewayRoutes: Sendable {
    /// Runs one admin command on a gateway over SSH and returns its standard output;
    /// throws with a message that says what failed (refused, host key mismatch, ...).
    typealias Query = @Sendable (_ endpoint: PairingRecord.SSHEndpoint, _ command: String) async throws -> String

    /// The command the manager runs on a gateway.
    static let command = "interfaceconfig --json"

    private let query: Query?
    private let ttl: Duration
    private let log: MailLog
    private let now: @Sendable () -> ContinuousClock.Instant
    private let cache = NIOLockedValueBox<[String: (route: DeliveryRoute, until: ContinuousClock.Instant)]>([:])
    /// Gateways whose last SSH question failed: the failure is logged as a warning once,
    /// and the recovery too.
    private let failing = NIOLockedValueBox<Set<String>>([])
    /// The last route given for each gateway (lower case), for `tophosts`.
    private let last = NIOLockedValueBox<[String: DeliveryRoute]>([:])

    init(query: Query?, ttl: Duration = .seconds(60), log: MailLog,
         now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.query = query
        self.ttl = ttl
        self.log = log
        self.now = now
    }

    /// The route to `record`'s cpq_listener.
    /// - Throws: `GatewayRouteError` saying why none is known.
    func route(for record: PairingRecord) async throws -> DeliveryRoute {
        let route = try await lookUp(record)
        last.withLockedValue { $0[record.gatewayName.lowercased()] = route }
        return route
    }

    /// The route last given for `gateway`, if any (`HOST:PORT` in `tophosts`).
    func lastRoute(for gateway: String) -> DeliveryRoute? {
        last.withLockedValue { $0[gateway.lowercased()] }
    }

    private func lookUp(_ record: PairingRecord) async throws -> DeliveryRoute {
        if let listener = record.cpqListener { return DeliveryRoute(host: listener.host, port: listener.port) }
        let name = record.gatewayName
        guard let ssh = record.ssh else {
            throw GatewayRouteError("gateway \(name) told no SSH server at pairing and has no cpq_listener set; set it with lazaret manager pair --name \(name) --cpq-listener HOST:PORT, or pair it again with SSH enabled")
        }
        let key = name.lowercased()
        if let cached = cache.withLockedValue({ $0[key] }), now() < cached.until { return cached.route }
        guard let query else {
            throw GatewayRouteError("this manager has no SSH client key to ask gateway \(name) where its cpq_listener is; restart the manager (it makes one) or set the listener with lazaret manager pair --name \(name) --cpq-listener HOST:PORT")
        }
        let route: DeliveryRoute
        do {
            let output = try await query(ssh, Self.command)
            route = try Self.cpqListener(in: output, sshHost: ssh.host)
        } catch {
            let why = "gateway \(name): cannot learn its cpq_listener over SSH at \(ssh.host) port \(ssh.port): \(error)"
            if failing.withLockedValue({ $0.insert(key).inserted }) {
                log.warning("Releases for \(why); they wait in the.cpq.release.host and are retried")
            }
            throw GatewayRouteError(why)
        }
        if failing.withLockedValue({ $0.remove(key) != nil }) {
            log.info("Gateway \(name) answers over SSH again: its cpq_listener is \(route.host) port \(route.port)")
        }
        let previous = cache.withLockedValue { cache -> DeliveryRoute? in
            let previous = cache[key]?.route
            cache[key] = (route, now() + ttl)
            return previous
        }
        if previous != route {
            log.info("Gateway \(name) told over SSH that its cpq_listener is \(route.host) port \(route.port)")
        }
        return route
    }

    /// Forgets what was learnt (e.g. after a refused connection), so the next attempt asks.
    func forget(_ gateway: String) {
        cache.withLockedValue { _ = $0.removeValue(forKey: gateway.lowercased()) }
    }

    /// The cpq_listener in the gateway's `interfaceconfig --json` answer: the listener whose
    /// `kind` is `cpq` (or whose name is `cpq_listener`). A wildcard address (`0.0.0.0`,
    /// `::`) means the gateway's SSH address.
    static func cpqListener(in output: String, sshHost: String) throws -> DeliveryRoute {
        guard let data = output.data(using: .utf8), let json = try? JSONSerialization.jsonObject(with: data) else {
            throw GatewayRouteError("the gateway's answer to \(command) is not JSON")
        }
        var candidates: [[String: Any]] = []
        func collect(_ value: Any) {
            if let object = value as? [String: Any] {
                candidates.append(object)
                object.values.forEach(collect)
            } else if let array = value as? [Any] {
                array.forEach(collect)
            }
        }
        collect(json)
        guard let listener = candidates.first(where: { ($0["kind"] as? String)?.lowercased() == "cpq" && $0["port"] != nil })
                ?? candidates.first(where: { ($0["name"] as? String) == "cpq_listener" && $0["port"] != nil }) else {
            throw GatewayRouteError("the gateway has no cpq_listener (its \(command) lists none); configure cpq.listener on it")
        }
        guard let port = (listener["port"] as? Int) ?? (listener["port"] as? String).flatMap(Int.init), (1...65535).contains(port) else {
            throw GatewayRouteError("the gateway's cpq_listener has no valid port in its \(command) answer")
        }
        var host = (listener["address"] as? String) ?? ""
        if host.isEmpty || host == "0.0.0.0" || host == "::" || host == "[::]" { host = sshHost }
        return DeliveryRoute(host: host, port: port)
    }
}

/// Why the release queue does not know where a gateway takes releases.
struct GatewayRouteError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
