import CPQ
import CPQTLS
import Foundation
import MailLog
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import QuarantineStore
import SMTPProtocol
import Scanning
import Spool

/// `the.cpq.release.host`: released mail on its way back to the gateway it came from, over
/// CPQ (`XCPQ RELEASE`, mutual TLS, the gateway's certificate pinned), with the delivery
/// queue's persistent connections, backoff, host-down marks and mail_logs lines.
///
/// There is one delivery queue per paired gateway (its host column in `tophosts` is the
/// gateway's name). Before each new connection it asks ``GatewayRoutes`` where the
/// gateway's cpq_listener is: over SSH (cached for a minute), or as set by hand with
/// `lazaret manager pair --cpq-listener HOST:PORT`. When that fails the release waits in
/// the queue like mail for a host that is down, and is retried with backoff.
/// Releases live in the quarantine store: what the store holds as `requested` or `queued`
/// is (re)queued at start and on every rescan, so a release is never lost, and the gateway
/// recognises a retried release by its id and delivers it once.
final class ReleaseQueue: Sendable {
    static let destinationName = "the.cpq.release.host"
    static let logLabel = "Centralized Policy Quarantine release"

    /// Envelope attributes of a queued release (what its `XCPQ RELEASE` line says).
    enum Attribute {
        static let releaseID = "release"
        static let qid = "qid"
        static let gatewayMID = "gateway-mid"
        static let resume = "resume"
        static let quarantines = "quarantines"
        static let gateway = "gateway"
    }

    private let store: QuarantineStore
    private let authority: CPQAuthority
    private let configuration: ManagerConfiguration
    private let log: MailLog
    private let group: any EventLoopGroup
    private let spool: ReleaseSpool
    private let routes: GatewayRoutes
    private let queues = NIOLockedValueBox<[String: DeliveryQueue]>([:])
    private let started: (stream: AsyncStream<DeliveryQueue>, continuation: AsyncStream<DeliveryQueue>.Continuation)
    private let stopped = NIOLockedValueBox(false)
    /// `suspend`: queues made while it is in force start paused too.
    private let paused = NIOLockedValueBox(false)
    /// Releases put on a queue since start (`status`).
    let queuedCount = NIOLockedValueBox(0)
    /// Gateways that are not paired, logged once each until they are.
    private let unroutable = NIOLockedValueBox<Set<String>>([])
    /// Gateway (lower case) → its queue's key, and until when that is trusted without reading the pairing file.
    private let keys = NIOLockedValueBox<[String: (key: String, until: ContinuousClock.Instant)]>([:])
    /// `queued` and `accepted` marks, many per commit (see ``WriteCoalescer``).
    private let marksQueued: WriteCoalescer<String>
    private let marksAccepted: WriteCoalescer<(releaseID: String, mid: UInt64?, qid: String, gateway: String, again: Bool)>

    init(store: QuarantineStore, authority: CPQAuthority, configuration: ManagerConfiguration, log: MailLog,
         group: any EventLoopGroup, routes: GatewayRoutes) {
        self.store = store
        self.routes = routes
        self.authority = authority
        self.configuration = configuration
        self.log = log
        self.group = group
        self.spool = ReleaseSpool(store: store, onReturned: { request, quarantines in
            log.info(quarantines.isEmpty
                ? "QID \(request.qid) release \(request.releaseID) deleted from \(Self.destinationName) by administrator; its retention has ended, so it stays released in the store"
                : "QID \(request.qid) release \(request.releaseID) deleted from \(Self.destinationName) by administrator; held again in " + quarantines.map { "\"\($0)\"" }.joined(separator: ", "))
        })
        self.started = AsyncStream.makeStream(of: DeliveryQueue.self)
        // `requested` and `queued` are both pending: a crash before the mark loses nothing.
        self.marksQueued = WriteCoalescer { ids in
            do {
                try await store.markReleasesQueued(ids)
            } catch {
                log.warning("\(ids.count) release(s) could not be marked queued in the store (\(error)); they are delivered all the same")
            }
        }
        // The gateway's 250: a crash before the mark means the release is sent again and the
        // gateway answers "already queued" from its ledger.
        self.marksAccepted = WriteCoalescer { accepted in
            do {
                try await store.markReleasesAccepted(accepted.map { ($0.releaseID, $0.mid) })
            } catch {
                log.critical("\(accepted.count) release(s) accepted by their gateway could not be recorded (\(error)); they are sent again at the next start and the gateway answers \"already queued\"")
                return
            }
            for item in accepted {
                log.info("QID \(item.qid) release \(item.releaseID) \(item.again ? "was already accepted" : "accepted") by gateway \(item.gateway) as MID \(item.mid.map(String.init) ?? "?")")
            }
        }
    }

    // MARK: Queueing

    /// Puts a release on the queue of its gateway (a no-op when it is there already). When
    /// the gateway is not paired the release stays `requested` in the store and is queued
    /// by a later rescan.
    func enqueue(_ request: ReleaseRequest) async {
        guard !spool.isQueued(releaseID: request.releaseID), !stopped.withLockedValue({ $0 }) else { return }
        guard let queue = queue(for: request.gateway) else { return }
        guard let mid = spool.register(request) else { return }
        var attributes = [
            Attribute.releaseID: request.releaseID, Attribute.qid: request.qid.rawValue, Attribute.gatewayMID: String(request.gatewayMID),
            Attribute.resume: request.resumeAt.rawValue, Attribute.quarantines: request.quarantines.joined(separator: ","),
            Attribute.gateway: request.gateway,
        ]
        if request.smtpUTF8 { attributes[MessageEnvelope.smtpUTF8Attribute] = "yes" }
        let envelope = MessageEnvelope(
            mid: mid, icid: request.gatewayICID ?? 0, listener: "release", remoteAddress: "", heloName: "",
            mailFrom: request.mailFrom, recipients: request.recipients, receivedAt: request.requestedAt.timeIntervalSince1970,
            destination: Self.destinationName, size: 0, attributes: attributes)
        if paused.withLockedValue({ $0 }) { await queue.pauseDelivery() }
        queuedCount.withLockedValue { $0 += 1 }
        log.info("MID \(mid) QID \(request.qid) release \(request.releaseID) queued on \(Self.destinationName) for gateway \(request.gateway) (MID \(request.gatewayMID) there), requested by \(request.requestedBy)")
        await queue.enqueue(SpooledMessage(envelope: envelope, pendingRecipients: Array(request.recipients.indices)))
        marksQueued.add(request.releaseID)
    }

    /// Queues every release the store has not seen accepted or failed.
    func rescan() async {
        do {
            for request in try await store.pendingReleases() where !spool.isQueued(releaseID: request.releaseID) {
                await enqueue(request)
            }
        } catch {
            log.critical("Pending releases cannot be read from the quarantine store: \(error)")
        }
    }

    /// What `tophosts` shows for the release queues.
    func statuses() async -> [DeliveryQueueStatus] {
        var result: [DeliveryQueueStatus] = []
        for queue in queues.withLockedValue({ Array($0.values) }) { result.append(await queue.status) }
        return result.sorted { ($0.destination.host, $0.destination.port) < ($1.destination.host, $1.destination.port) }
    }

    /// Every release queue with the gateway it delivers to (`tophosts`, `showrecipients`).
    func gatewayQueues() -> [(gateway: String, queue: DeliveryQueue)] {
        // A queue's host is its gateway's name.
        queues.withLockedValue { queues in queues.values.map { ($0.destination.host, $0) } }
            .sorted { ($0.gateway.lowercased(), $0.queue.destination.port) < ($1.gateway.lowercased(), $1.queue.destination.port) }
    }

    /// Where `gateway`'s releases went last (`HOST:PORT`), or how it is found.
    func routeDescription(for gateway: String) -> String {
        routes.lastRoute(for: gateway).map { "\($0.host):\($0.port)" } ?? "not known yet (asked at the next connection)"
    }

    /// `suspend` / `resume`: pauses or resumes delivery on every release queue, now and later.
    func setPaused(_ pause: Bool) async {
        paused.withLockedValue { $0 = pause }
        for queue in queues.withLockedValue({ Array($0.values) }) {
            if pause { await queue.pauseDelivery() } else { await queue.resumeDelivery() }
        }
    }

    // MARK: Running

    /// Runs the delivery queues and rescans the store every `rescanSeconds` until `shutdown()`.
    func run() async {
        await rescan()
        await withDiscardingTaskGroup { group in
            group.addTask {
                while !self.stopped.withLockedValue({ $0 }) {
                    var waited = 0.0
                    while waited < self.configuration.releaseRescanSeconds, !self.stopped.withLockedValue({ $0 }) {
                        try? await Task.sleep(for: .milliseconds(200))
                        waited += 0.2
                    }
                    if self.stopped.withLockedValue({ $0 }) { break }
                    await self.rescan()
                }
            }
            for await queue in started.stream {
                group.addTask { await queue.runUntilShutdown() }
            }
        }
    }

    /// Stops the queues after their current transactions; what is left stays in the store.
    func shutdown() async {
        stopped.withLockedValue { $0 = true }
        started.continuation.finish()
        for queue in queues.withLockedValue({ Array($0.values) }) { await queue.shutdown() }
        // Let the last marks reach the store before it closes.
        for _ in 0..<500 where marksQueued.isBusy || marksAccepted.isBusy {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    // MARK: Queues per gateway

    /// The queue to the gateway, made on first use; nil (logged once) when the gateway is not paired.
    private func queue(for gateway: String) -> DeliveryQueue? {
        // The pairing file is read at most every few seconds, not for every release of a
        // bulk release (a gateway paired again, with a new certificate, gets a new queue).
        let now = ContinuousClock.now
        if let cached = keys.withLockedValue({ $0[gateway.lowercased()] }), now < cached.until,
           let queue = queues.withLockedValue({ $0[cached.key] }) {
            return queue
        }
        return resolveQueue(for: gateway)
    }

    private func resolveQueue(for gateway: String) -> DeliveryQueue? {
        let record: PairingRecord
        let pin: CPQFingerprint
        do {
            guard let found = try authority.pairedGateways.record(named: gateway), let fingerprint = found.certificateFingerprint else {
                logUnroutable(gateway, "it is not paired with this manager (pair it again: lazaret manager pair --name \(gateway))")
                return nil
            }
            record = found
            pin = fingerprint
        } catch {
            logUnroutable(gateway, "the paired gateways cannot be read: \(error)")
            return nil
        }
        let key = "\(record.gatewayName.lowercased()) \(pin.hex)"
        keys.withLockedValue { $0[gateway.lowercased()] = (key, ContinuousClock.now + .seconds(5)) }
        if let queue = queues.withLockedValue({ $0[key] }) { return queue }
        let customization: DeliveryCustomization
        do {
            customization = try makeCustomization(pin: pin, gateway: record.gatewayName)
        } catch {
            logUnroutable(gateway, "no CPQ client TLS context: \(error)")
            return nil
        }
        unroutable.withLockedValue { _ = $0.remove(gateway) }
        let policy = DeliveryPolicy(
            localHostname: configuration.hostname,
            retry: RetrySchedule(initial: configuration.releaseRetryInitialSeconds, maximum: configuration.releaseRetryMaxSeconds),
            maxQueueLifetime: configuration.releaseMaxQueueLifetimeSeconds)
        let store = self.store
        let log = self.log
        let queue = DeliveryQueue(
            destination: Destination(name: Self.destinationName, host: record.gatewayName, port: CPQDefaults.port,
                                     maxConnections: configuration.releaseMaxConnections, tls: .required),
            policy: policy, spool: spool, log: log, group: group, customization: customization,
            onBounce: { envelope, _, failed in
                // The gateway refused the release (or it stayed too long): recorded as failed, never as done.
                guard let releaseID = envelope.attributes[Attribute.releaseID], let first = failed.first else { return }
                try await store.markReleaseFailed(releaseID, reply: first.reply.description)
                log.info("QID \(envelope.attributes[Attribute.qid] ?? "?") release \(releaseID) failed: gateway \(envelope.attributes[Attribute.gateway] ?? "?") answered '\(first.reply)'")
            })
        let (kept, isNew) = queues.withLockedValue { queues -> (DeliveryQueue, Bool) in
            if let existing = queues[key] { return (existing, false) }
            queues[key] = queue
            return (queue, true)
        }
        if isNew {
            started.continuation.yield(kept)
            let how = record.cpqListener.map { "cpq_listener \($0.host) port \($0.port) (set by hand)" }
                ?? record.ssh.map { "cpq_listener asked over SSH at \($0.host) port \($0.port)" } ?? "cpq_listener not known"
            log.info("Release queue \(Self.destinationName) for gateway \(record.gatewayName): \(how)")
        }
        return kept
    }

    private func logUnroutable(_ gateway: String, _ why: String) {
        let first = unroutable.withLockedValue { $0.insert(gateway).inserted }
        if first { log.warning("Releases for gateway \(gateway) wait in the quarantine store: \(why)") }
    }

    private func makeCustomization(pin: CPQFingerprint?, gateway: String) throws -> DeliveryCustomization {
        let client = try configuration.tlsConfiguration().makeClientContext(
            identity: authority.managerIdentity, trustRoot: authority.certificate, pinnedServerFingerprint: pin)
        let log = self.log
        let authority = self.authority
        let routes = self.routes
        return DeliveryCustomization(
            tlsContext: client.sslContext,
            tlsSession: {
                let verification = CPQPeerVerification(role: .client)
                return DeliveryCustomization.TLSSession(
                    makeHandler: { _, name in try client.makeHandler(serverHostname: name, verification: verification) },
                    describeError: { verification.failure(for: $0).description })
            },
            preamble: { envelope in Self.preamble(envelope, log: log) },
            logLabel: Self.logLabel,
            onAttempt: { [marksAccepted] envelope, attempts in
                guard let releaseID = envelope.attributes[Attribute.releaseID],
                      let accepted = attempts.first(where: { $0.result == .delivered }) else { return }
                let queued = CPQReplies.queuedRelease(in: accepted.reply)
                marksAccepted.add((releaseID, queued?.mid, envelope.attributes[Attribute.qid] ?? "?",
                                   envelope.attributes[Attribute.gateway] ?? "?", queued?.alreadyQueued == true))
            },
            route: {
                guard let record = try authority.pairedGateways.record(named: gateway) else {
                    throw GatewayRouteError("gateway \(gateway) is no longer paired with this manager")
                }
                return try await routes.route(for: record)
            })
    }

    /// The `XCPQ RELEASE` line of a queued release.
    static func preamble(_ envelope: MessageEnvelope, log: MailLog) -> [String] {
        let a = envelope.attributes
        guard let releaseID = a[Attribute.releaseID], let qid = a[Attribute.qid],
              let mid = a[Attribute.gatewayMID].flatMap(UInt64.init), let resume = a[Attribute.resume].flatMap(PipelineStage.init(rawValue:))
        else {
            log.critical("MID \(envelope.mid) is on \(destinationName) without its release metadata")
            return []
        }
        let quarantines = (a[Attribute.quarantines] ?? "").split(separator: ",").map(String.init)
        do {
            return try CPQClient.releasePreamble(CPQReleaseHeader(releaseID: releaseID, mid: mid, qid: qid, resume: resume,
                                                                  quarantines: quarantines))
        } catch {
            log.critical("MID \(envelope.mid) release \(releaseID) cannot be written as XCPQ RELEASE: \(error)")
            return []
        }
    }
}
