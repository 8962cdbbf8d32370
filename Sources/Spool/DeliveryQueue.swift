import Foundation
import Logging
import MailLog
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import SMTPProtocol
import ServiceLifecycle

/// A recipient that the next hop refused for good, or that stayed too long.
public struct FailedRecipient: Sendable, Hashable {
    public var rid: Int
    public var address: String
    /// The remote reply, or a local one (`expired`) when nothing was said.
    public var reply: SMTPReply
    /// `dns; host` of the server that refused, when one answered.
    public var remoteMTA: String?

    public init(rid: Int, address: String, reply: SMTPReply, remoteMTA: String?) {
        self.rid = rid
        self.address = address
        self.reply = reply
        self.remoteMTA = remoteMTA
    }
}

/// Called for recipients that failed for good (refused or expired) *before*
/// their outcome is recorded: the gateway builds the DSN and stores it.
/// Return only once the DSN is durable (or none is due, as for the null
/// sender); throw when it could not be stored — the recipients then stay
/// pending and are tried again, so no failure goes unreported. A crash
/// between the DSN and the outcome sends the DSN twice rather than never.
public typealias BounceHandler = @Sendable (_ envelope: MessageEnvelope, _ body: ByteBuffer?, _ failed: [FailedRecipient]) async throws -> Void

/// What `tophosts` and `hoststatus` show for one queue.
public struct DeliveryQueueStatus: Sendable, Hashable {
    public var destination: Destination
    /// Recipients waiting or in flight.
    public var activeRecipients: Int
    public var activeMessages: Int
    public var connectionsOut: Int
    public var deliveredRecipients: Int
    /// Temporary failures (each attempt counts).
    public var softBouncedRecipients: Int
    /// Permanent failures and expiries.
    public var hardBouncedRecipients: Int
    public var isDown: Bool
    /// Delivery is paused by the administrator (`suspend`); mail waits until `resume`.
    public var isPaused: Bool = false
    /// When the oldest queued message arrived (seconds since 1970), if any.
    public var oldestReceivedAt: Double?
}

/// One queue per destination host (RFC 5321 §4.5.4): messages wait here until
/// a connection to the host takes them. The queue keeps up to
/// `destination.maxConnections` persistent connections, retries temporary
/// failures on `policy.retry`, marks the host down after repeated connection
/// failures, bounces permanent failures and expired messages, and records the
/// remote 250 in the spool at once so that a crash repeats as little as possible.
///
/// Run it as a `Service` (it stops on graceful shutdown or cancellation), or
/// with `runUntilShutdown()` when the owner orders the shutdown itself;
/// `enqueue` hands it messages.
public actor DeliveryQueue: Service {
    public nonisolated let destination: Destination
    public nonisolated let policy: DeliveryPolicy
    private nonisolated let spool: any MessageSpool
    private nonisolated let log: MailLog
    private nonisolated let group: EventLoopGroup
    private nonisolated let onBounce: BounceHandler
    private nonisolated let clock: @Sendable () -> Double
    private nonisolated let tickInterval: Duration
    private nonisolated let tlsContext: NIOSSLContext?
    private nonisolated let customization: DeliveryCustomization

    struct Item: Sendable {
        var envelope: MessageEnvelope
        var pending: [Int]
        var attempts: Int
        var notBefore: Double
        /// After an expiry whose DSN could not be stored: when to try again.
        var expiryRetryAt: Double = 0
    }

    enum Instruction: Sendable {
        case deliver(Item)
        case closeIdle
        case stop
    }

    private struct Waiter {
        var continuation: CheckedContinuation<Instruction, Never>
        var holdsConnection: Bool
        var since: Double
    }

    private var ready = CircularBuffer<Item>()
    private var deferred: [Item] = []
    private var inFlight: [MID: Int] = [:]
    private var waiters: [Waiter] = []
    private var stopping = false
    /// Set by cancellation and graceful shutdown handlers, which cannot wait
    /// for the actor; the tick loop sees it and stops the workers.
    private nonisolated let stopRequested = NIOLockedValueBox(false)
    private var consecutiveFailures = 0
    private var downUntil: Double?
    private var connectionsOut = 0
    /// `suspend`: no new delivery attempt starts until `resumeDelivery()`.
    private var paused = false
    private var delivered = 0
    private var softBounced = 0
    private var hardBounced = 0

    public init(destination: Destination, policy: DeliveryPolicy, spool: any MessageSpool, log: MailLog,
                group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                tickInterval: Duration = .milliseconds(250),
                clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
                onBounce: @escaping BounceHandler) {
        self.init(destination: destination, policy: policy, spool: spool, log: log, group: group, tickInterval: tickInterval,
                  clock: clock, customization: DeliveryCustomization(), onBounce: onBounce)
    }

    /// A queue to a next hop that needs more than plain SMTP (the CPQ queues): its own
    /// TLS context and handler, lines before each MAIL, a label for the delivery logs.
    /// Without a TLS context in `customization`, the destination's `tls` mode decides.
    public init(destination: Destination, policy: DeliveryPolicy, spool: any MessageSpool, log: MailLog,
                group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                tickInterval: Duration = .milliseconds(250),
                clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
                customization: DeliveryCustomization, onBounce: @escaping BounceHandler) {
        var tlsContext = customization.tlsContext
        if tlsContext == nil {
            do {
                tlsContext = try Self.makeTLSContext(for: destination.tls)
            } catch {
                log.critical("Destination \(destination.name): no TLS client context (\(error)); "
                    + (destination.tls == .required ? "nothing is delivered until this is fixed" : "delivery goes on in plain text"))
            }
        }
        self.init(destination: destination, policy: policy, spool: spool, log: log, group: group, tickInterval: tickInterval,
                  clock: clock, tlsContext: tlsContext, customization: customization, onBounce: onBounce)
    }

    /// A queue with the given client TLS context (tests pass nil for a context that could not be made).
    init(destination: Destination, policy: DeliveryPolicy, spool: any MessageSpool, log: MailLog, group: EventLoopGroup,
         tickInterval: Duration, clock: @escaping @Sendable () -> Double, tlsContext: NIOSSLContext?,
         customization: DeliveryCustomization = DeliveryCustomization(), onBounce: @escaping BounceHandler) {
        self.customization = customization
        self.destination = destination
        self.policy = policy
        self.spool = spool
        self.log = log
        self.group = group
        self.tickInterval = tickInterval
        self.clock = clock
        self.onBounce = onBounce
        self.tlsContext = tlsContext
    }

    /// The client context for the destination's TLS mode (nil for `.off`).
    static func makeTLSContext(for mode: DestinationTLSMode) throws -> NIOSSLContext? {
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch mode {
        case .off: return nil
        case .opportunistic: configuration.certificateVerification = .none
        case .required: configuration.certificateVerification = .fullVerification
        }
        return try NIOSSLContext(configuration: configuration)
    }

    // MARK: - Feeding the queue

    /// Queues a stored message for its pending recipients.
    public func enqueue(_ message: SpooledMessage) {
        guard !message.pendingRecipients.isEmpty else { return }
        let item = Item(envelope: message.envelope, pending: message.pendingRecipients, attempts: 0, notBefore: 0)
        if isDown {
            deferred.append(item)
        } else {
            hand(item)
        }
    }

    /// `delivernow`: forget backoff and host-down marks and try everything at once
    /// (expired messages are bounced by the next tick instead).
    public func deliverNow() {
        downUntil = nil
        consecutiveFailures = 0
        dispatchReady()
        let due = deferred
        deferred.removeAll()
        for var item in due {
            item.notBefore = 0
            hand(item)
        }
    }

    /// `suspend`: starts no new delivery attempt (attempts under way finish) until
    /// `resumeDelivery()`. Mail keeps queueing; nothing expires sooner for the pause.
    public func pauseDelivery() {
        paused = true
    }

    /// `resume`: delivery goes on where it stopped.
    public func resumeDelivery() {
        guard paused else { return }
        paused = false
        dispatchReady()
    }

    /// Removes every queued recipient (`deleterecipients`), recording them as deleted.
    /// Messages in flight finish their current attempt. Returns the number of recipients removed.
    public func deleteAll(matching predicate: @Sendable (MessageEnvelope) -> Bool) async -> Int {
        var removed: [Item] = []
        var keepReady = CircularBuffer<Item>()
        while let item = ready.popFirst() {
            if predicate(item.envelope) { removed.append(item) } else { keepReady.append(item) }
        }
        ready = keepReady
        deferred.removeAll { item in
            if predicate(item.envelope) { removed.append(item); return true }
            return false
        }
        var count = 0
        for item in removed {
            count += item.pending.count
            do {
                try await spool.record(.deleted, mid: item.envelope.mid, recipients: item.pending)
                log.info("MID \(item.envelope.mid) RID \(Self.ridList(item.pending)) deleted from queue \(destination.name) by administrator")
                log.info("Message finished MID \(item.envelope.mid) aborted")
                let reply = SMTPReply(550, EnhancedStatusCode(5, 0, 0), "deleted from queue \(destination.name) by administrator")
                await observe(item.envelope, item.pending.map { ($0, .deleted, reply) })
            } catch {
                log.critical("MID \(item.envelope.mid) could not be marked deleted: \(error); it stays in the spool")
            }
        }
        return count
    }

    public var status: DeliveryQueueStatus {
        let queued = Array(ready) + deferred
        let inFlightRecipients = inFlight.values.reduce(0, +)
        return DeliveryQueueStatus(
            destination: destination,
            activeRecipients: queued.reduce(0) { $0 + $1.pending.count } + inFlightRecipients,
            activeMessages: queued.count + inFlight.count,
            connectionsOut: connectionsOut,
            deliveredRecipients: delivered,
            softBouncedRecipients: softBounced,
            hardBouncedRecipients: hardBounced,
            isDown: isDown,
            isPaused: paused,
            oldestReceivedAt: queued.map(\.envelope.receivedAt).min()
        )
    }

    /// Every queued message with its pending recipients (`showrecipients`).
    public var queuedMessages: [SpooledMessage] {
        (Array(ready) + deferred).map { SpooledMessage(envelope: $0.envelope, pendingRecipients: $0.pending) }
    }

    private var isDown: Bool {
        guard let downUntil else { return false }
        return clock() < downUntil
    }

    /// Workers waiting for work (for tests).
    var idleWorkers: Int { waiters.count }

    private func isExpired(_ item: Item, now: Double) -> Bool {
        now - item.envelope.receivedAt > policy.maxQueueLifetime
    }

    /// Gives `item` to a waiting worker (one that holds a connection first),
    /// or queues it as ready. An expired item waits for the tick to bounce it.
    private func hand(_ item: Item) {
        if isExpired(item, now: clock()) {
            deferred.append(item)
        } else if !waiters.isEmpty && !paused {
            giveToWaiter(item)
        } else {
            ready.append(item)
        }
    }

    private func giveToWaiter(_ item: Item) {
        let index = waiters.firstIndex(where: { $0.holdsConnection }) ?? waiters.startIndex
        let waiter = waiters.remove(at: index)
        inFlight[item.envelope.mid] = item.pending.count
        waiter.continuation.resume(returning: .deliver(item))
    }

    /// The next ready item that has not expired; expired ones move to `deferred` for the tick.
    private func popReady() -> Item? {
        let now = clock()
        while let item = ready.popFirst() {
            if isExpired(item, now: now) {
                deferred.append(item)
                continue
            }
            return item
        }
        return nil
    }

    /// Hands ready items to idle workers: workers that found the host down
    /// wait, and nothing else would wake them when the mark ends.
    private func dispatchReady() {
        guard !isDown, !paused else { return }
        while !waiters.isEmpty, let item = popReady() {
            giveToWaiter(item)
        }
    }

    // MARK: - Workers

    private func next(holdsConnection: Bool) async -> Instruction {
        if stopping { return .stop }
        if !isDown, !paused, let item = popReady() {
            inFlight[item.envelope.mid] = item.pending.count
            return .deliver(item)
        }
        let now = clock()
        return await withCheckedContinuation { continuation in
            waiters.append(Waiter(continuation: continuation, holdsConnection: holdsConnection, since: now))
        }
    }

    /// Expires old messages, then moves due retries and ready items to idle
    /// workers, and closes idle connections.
    private func tick() async {
        let now = clock()
        if let downUntil, now >= downUntil {
            self.downUntil = nil
            log.info("Host \(destination.host) (\(destination.name)) retry: marking up for a new attempt")
        }
        // Expiry first, on every queued item: an expired message is never handed out again.
        await expireDue(now: now)
        if !isDown && !paused {
            dispatchReady()
            if !deferred.isEmpty {
                var still: [Item] = []
                for item in deferred {
                    if item.notBefore <= now && !isExpired(item, now: now) { hand(item) } else { still.append(item) }
                }
                deferred = still
            }
        }
        var keep: [Waiter] = []
        for waiter in waiters {
            if waiter.holdsConnection && now - waiter.since >= policy.idleConnectionTimeout {
                waiter.continuation.resume(returning: .closeIdle)
            } else {
                keep.append(waiter)
            }
        }
        waiters = keep
    }

    private func stop() {
        stopping = true
        for waiter in waiters { waiter.continuation.resume(returning: .stop) }
        waiters.removeAll()
    }

    /// Runs until graceful shutdown or cancellation; messages in flight finish
    /// their current transaction, everything else stays in the spool.
    public func run() async throws {
        await withTaskCancellationOrGracefulShutdownHandler {
            await runUntilShutdown()
        } onCancelOrGracefulShutdown: {
            self.stopRequested.withLockedValue { $0 = true }
        }
    }

    /// Runs the workers until `shutdown()` or task cancellation, ignoring
    /// graceful shutdown: for an owner that first stops what feeds the queue
    /// (the gateway drains its listeners, then calls `shutdown()`).
    public func runUntilShutdown() async {
        await withDiscardingTaskGroup { group in
            for _ in 0..<max(1, destination.maxConnections) {
                group.addTask { await self.worker() }
            }
            group.addTask {
                while !self.isStopRequested {
                    try? await Task.sleep(for: self.tickInterval)
                    if self.isStopRequested { break }
                    await self.tick()
                }
                await self.stop()
            }
        }
    }

    private nonisolated var isStopRequested: Bool {
        Task.isCancelled || stopRequested.withLockedValue { $0 }
    }

    /// Stops the workers (for callers that do not use a ServiceGroup, or use `runUntilShutdown()`).
    public func shutdown() {
        stopRequested.withLockedValue { $0 = true }
        stop()
    }

    private nonisolated func worker() async {
        var connection: SMTPClientConnection?
        var dcid: UInt64 = 0
        while true {
            let instruction = await next(holdsConnection: connection != nil)
            switch instruction {
            case .stop:
                if let connection { await close(connection, dcid: dcid) }
                return
            case .closeIdle:
                if let connection { await close(connection, dcid: dcid) }
                connection = nil
            case .deliver(let item):
                if let existing = connection, !existing.isActive {
                    await close(existing, dcid: dcid)
                    connection = nil
                }
                if connection == nil {
                    guard case let (opened, openedDCID)? = await connect() else {
                        await connectionFailed(item)
                        continue
                    }
                    connection = opened
                    dcid = openedDCID
                }
                let keep = await deliver(item, over: connection!, dcid: dcid)
                if !keep {
                    await close(connection!, dcid: dcid)
                    connection = nil
                }
            }
        }
    }

    /// Opens a connection for one attempt. With opportunistic TLS, a refused
    /// STARTTLS or a failed handshake is followed at once by a new connection
    /// in plain text; required TLS never falls back.
    private nonisolated func connect() async -> (SMTPClientConnection, UInt64)? {
        let dcid = spool.nextDCID()
        switch await open(dcid: dcid, tlsContext: tlsContext) {
        case .connected(let connection):
            return (connection, dcid)
        case .tlsFailed where destination.tls == .opportunistic:
            let plainDCID = spool.nextDCID()
            guard case .connected(let connection) = await open(dcid: plainDCID, tlsContext: nil) else { return nil }
            return (connection, plainDCID)
        case .tlsFailed, .failed:
            return nil
        }
    }

    private enum ConnectResult {
        case connected(SMTPClientConnection)
        case tlsFailed
        case failed
    }

    private nonisolated func clientOptions(tlsContext: NIOSSLContext?, required: Bool, host: String) -> SMTPClientOptions {
        var options = SMTPClientOptions(
            localHostname: policy.localHostname, tlsContext: tlsContext,
            // SNI and name checks need a host name; for an IP literal only the chain is verified.
            tlsServerName: required && (try? SocketAddress(ipAddress: host, port: 0)) == nil
                ? host : nil,
            tlsRequired: required)
        if tlsContext != nil, let session = customization.tlsSession?() {
            options.makeTLSHandler = session.makeHandler
            options.describeTLSError = session.describeError
        }
        return options
    }

    private nonisolated func open(dcid: UInt64, tlsContext: NIOSSLContext?) async -> ConnectResult {
        let required = destination.tls == .required
        let target: DeliveryRoute
        if let route = customization.route {
            do {
                target = try await route()
            } catch {
                log.info("Connection Error: DCID \(dcid) domain: \(destination.name) host: \(destination.host) details: \(error)")
                return .failed
            }
        } else {
            target = DeliveryRoute(host: destination.host, port: destination.port)
        }
        do {
            let connection = try await SMTPClientConnection.connect(
                host: target.host, port: target.port, group: group,
                options: clientOptions(tlsContext: tlsContext, required: required, host: target.host),
                onConnected: { localAddress in
                    self.log.info("New SMTP DCID \(dcid) interface \(localAddress) address \(target.host) port \(target.port)")
                })
            if let tls = connection.tlsProtocol {
                log.info("DCID \(dcid) TLS success protocol \(tls) cipher unknown \(destination.name)")
            }
            await connectionOpened()
            return .connected(connection)
        } catch SMTPClientError.tlsFailed(let why) {
            log.info("DCID \(dcid) TLS failed: \(why)")
            if required {
                log.info("DCID \(dcid) TLS was required but could not be successfully negotiated")
            }
            return .tlsFailed
        } catch {
            log.info("Connection Error: DCID \(dcid) domain: \(destination.name) IP: \(target.host) port: \(target.port) details: \(error)")
            return .failed
        }
    }

    private func connectionOpened() {
        connectionsOut += 1
        consecutiveFailures = 0
    }

    private nonisolated func close(_ connection: SMTPClientConnection, dcid: UInt64) async {
        await connection.quit()
        await connectionClosed()
        log.info("DCID \(dcid) close")
    }

    private func connectionClosed() { connectionsOut -= 1 }

    private func connectionFailed(_ item: Item) {
        inFlight[item.envelope.mid] = nil
        consecutiveFailures += 1
        if consecutiveFailures >= policy.hostDownAfterFailures && downUntil == nil {
            let wait = policy.retry.initial
            downUntil = clock() + wait
            log.warning("Host \(destination.host) (\(destination.name)) marked down after \(consecutiveFailures) connection failures; next attempt in \(Int(wait))s")
        }
        reschedule(item)
    }

    private func reschedule(_ item: Item) {
        var item = item
        item.attempts += 1
        item.notBefore = clock() + policy.retry.delay(afterAttempt: item.attempts)
        softBounced += item.pending.count
        deferred.append(item)
    }

    /// Runs one transaction; returns whether the connection can be reused.
    private nonisolated func deliver(_ item: Item, over connection: SMTPClientConnection, dcid: UInt64) async -> Bool {
        let mid = item.envelope.mid
        let body: ByteBuffer
        do {
            body = try await spool.body(of: mid)
        } catch {
            log.critical("MID \(mid) body cannot be read from the spool: \(error); the message stays queued")
            await finishAttempt(item, delivered: [], failed: [], deferred: item.pending)
            return true
        }
        let label = customization.logLabel.map { " to \($0)" } ?? ""
        log.info("Delivery start DCID \(dcid) MID \(mid) to RID \(Self.ridList(item.pending))\(label)")
        var parameters: [String] = []
        if connection.extensions.size != nil { parameters.append("SIZE=\(body.readableBytes)") }
        if connection.extensions.eightBitMIME { parameters.append("BODY=8BITMIME") }
        if item.envelope.requiresSMTPUTF8 { parameters.append("SMTPUTF8") }
        let results: [SMTPRecipientResult]
        if item.envelope.requiresSMTPUTF8 && !connection.extensions.smtpUTF8 {
            // RFC 6531 section 3.2: never send an SMTPUTF8 message to a host that does not offer it.
            let reply = SMTPReply(553, EnhancedStatusCode(5, 6, 7),
                                  "\(destination.host) does not support SMTPUTF8, which this message needs")
            results = item.pending.map { _ in .failed(reply) }
        } else {
            results = await connection.deliver(
                mailFrom: item.envelope.mailFrom,
                recipients: item.pending.map { item.envelope.recipients[$0] },
                parameters: parameters, preamble: customization.preamble?(item.envelope) ?? [], body: body)
        }
        var done: [Int] = []
        var failed: [FailedRecipient] = []
        var later: [Int] = []
        var bounced: [Int] = []
        var doneReply: SMTPReply?
        var attempts: [(Int, RecipientAttempt.Result, SMTPReply)] = []
        for (rid, result) in zip(item.pending, results) {
            switch result {
            case .delivered(let reply):
                done.append(rid)
                doneReply = reply
                attempts.append((rid, .delivered, reply))
            case .failed(let reply):
                failed.append(FailedRecipient(rid: rid, address: item.envelope.recipients[rid], reply: reply,
                                              remoteMTA: "dns; \(destination.host)"))
            case .deferred(let reply):
                later.append(rid)
                attempts.append((rid, .deferred, reply))
                log.info("Delayed: DCID \(dcid) MID \(mid) to RID [\(rid)] - \(reply.enhanced?.description ?? "4.0.0") ('\(reply)')")
            }
        }
        if !done.isEmpty {
            // Record the remote 250 before anything else so a crash repeats as little as possible.
            do {
                try await spool.record(.delivered, mid: mid, recipients: done)
            } catch {
                log.critical("MID \(mid) delivered but the outcome could not be recorded: \(error)")
            }
            log.info("Message done DCID \(dcid) MID \(mid) to RID \(Self.ridList(done))\(customization.logLabel.map { " (\($0.lowercased()))" } ?? "")")
            log.info("MID \(mid) RID \(Self.ridList(done)) Response '\(doneReply?.text ?? "")'")
        }
        if !failed.isEmpty {
            for failure in failed {
                log.info("Bounced: DCID \(dcid) MID \(mid) to RID [\(failure.rid)] - \(failure.reply.enhanced?.description ?? "5.0.0") ('\(failure.reply)')")
            }
            if await bounce(item.envelope, body: body, failed, outcome: .bounced) {
                bounced = failed.map(\.rid)
                attempts += failed.map { ($0.rid, .bounced, $0.reply) }
            } else {
                later = (later + failed.map(\.rid)).sorted()
                attempts += failed.map { ($0.rid, .deferred, $0.reply) }
            }
        }
        await observe(item.envelope, attempts)
        await finishAttempt(item, delivered: done, failed: bounced, deferred: later)
        return connection.isActive
    }

    /// Has the DSN stored (`onBounce`), and only then records the outcome, so
    /// that a recipient is never finished without its DSN. Returns false when
    /// the DSN could not be stored: the recipients stay pending.
    private nonisolated func bounce(_ envelope: MessageEnvelope, body: ByteBuffer?, _ failed: [FailedRecipient],
                                    outcome: RecipientOutcome) async -> Bool {
        let rids = failed.map(\.rid)
        do {
            try await onBounce(envelope, body, failed)
        } catch {
            log.critical("MID \(envelope.mid) RID \(Self.ridList(rids)) bounce could not be stored: \(error); the recipients stay queued and are tried again")
            return false
        }
        do {
            try await spool.record(outcome, mid: envelope.mid, recipients: rids)
        } catch {
            log.critical("MID \(envelope.mid) RID \(Self.ridList(rids)) bounced but the outcome could not be recorded: \(error); after a restart the DSN may be sent again")
        }
        return true
    }

    private func finishAttempt(_ item: Item, delivered done: [Int], failed: [Int], deferred later: [Int]) {
        inFlight[item.envelope.mid] = nil
        delivered += done.count
        hardBounced += failed.count
        if later.isEmpty {
            log.info("Message finished MID \(item.envelope.mid) done")
            return
        }
        var rest = item
        rest.pending = later
        reschedule(rest)  // if it has expired meanwhile, the next tick bounces it before anything else
    }

    /// Takes every expired item out of the queue and bounces it.
    private func expireDue(now: Double) async {
        var due: [Item] = []
        deferred.removeAll { item in
            guard isExpired(item, now: now), item.expiryRetryAt <= now else { return false }
            due.append(item)
            return true
        }
        var keep = CircularBuffer<Item>()
        while let item = ready.popFirst() {
            if isExpired(item, now: now), item.expiryRetryAt <= now { due.append(item) } else { keep.append(item) }
        }
        ready = keep
        for item in due { inFlight[item.envelope.mid] = item.pending.count }
        for item in due { await expire(item) }
    }

    private func expire(_ item: Item) async {
        let mid = item.envelope.mid
        let hours = Int(policy.maxQueueLifetime / 3600)
        let reply = SMTPReply(554, EnhancedStatusCode(5, 4, 7), "Delivery expired: message in queue longer than \(hours)h")
        let failed = item.pending.map {
            FailedRecipient(rid: $0, address: item.envelope.recipients[$0], reply: reply, remoteMTA: nil)
        }
        log.info("Bounced: MID \(mid) to RID \(Self.ridList(item.pending)) - 5.4.7 ('\(reply)')")
        let body = try? await spool.body(of: mid)
        let done = await bounce(item.envelope, body: body, failed, outcome: .expired)
        inFlight[mid] = nil
        guard done else {
            var again = item
            again.expiryRetryAt = clock() + policy.retry.initial
            deferred.append(again)
            return
        }
        hardBounced += item.pending.count
        log.info("Message finished MID \(mid) done")
        await observe(item.envelope, item.pending.map { ($0, .expired, reply) })
    }

    /// Tells ``DeliveryCustomization/onAttempt`` what the attempt did, in RID order.
    private nonisolated func observe(_ envelope: MessageEnvelope, _ attempts: [(Int, RecipientAttempt.Result, SMTPReply)]) async {
        guard let onAttempt = customization.onAttempt, !attempts.isEmpty else { return }
        let sorted = attempts.sorted { $0.0 < $1.0 }.map { rid, result, reply in
            RecipientAttempt(rid: rid, address: envelope.recipients[rid], result: result, reply: reply)
        }
        await onAttempt(envelope, sorted)
    }

    static func ridList(_ rids: [Int]) -> String {
        "[" + rids.map(String.init).joined(separator: ", ") + "]"
    }
}
