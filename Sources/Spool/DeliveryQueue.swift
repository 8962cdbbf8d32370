import Foundation
import Logging
import MailLog
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

/// Called once a message has failed recipients, after their outcome is
/// durable: the gateway builds the DSN and queues it.
public typealias BounceHandler = @Sendable (_ envelope: MessageEnvelope, _ body: ByteBuffer?, _ failed: [FailedRecipient]) async -> Void

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
/// Run it as a `Service`; `enqueue` hands it messages.
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

    struct Item: Sendable {
        var envelope: MessageEnvelope
        var pending: [Int]
        var attempts: Int
        var notBefore: Double
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
    private var consecutiveFailures = 0
    private var downUntil: Double?
    private var connectionsOut = 0
    private var delivered = 0
    private var softBounced = 0
    private var hardBounced = 0

    public init(destination: Destination, policy: DeliveryPolicy, spool: any MessageSpool, log: MailLog,
                group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                tickInterval: Duration = .milliseconds(250),
                clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
                onBounce: @escaping BounceHandler) {
        self.destination = destination
        self.policy = policy
        self.spool = spool
        self.log = log
        self.group = group
        self.tickInterval = tickInterval
        self.clock = clock
        self.onBounce = onBounce
        self.tlsContext = Self.makeTLSContext(for: destination.tls)
    }

    /// The client context for the destination's TLS mode (nil for `.off`).
    static func makeTLSContext(for mode: DestinationTLSMode) -> NIOSSLContext? {
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch mode {
        case .off: return nil
        case .opportunistic: configuration.certificateVerification = .none
        case .required: configuration.certificateVerification = .fullVerification
        }
        return try? NIOSSLContext(configuration: configuration)
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

    /// `delivernow`: forget backoff and host-down marks and try everything at once.
    public func deliverNow() {
        downUntil = nil
        consecutiveFailures = 0
        let due = deferred
        deferred.removeAll()
        for var item in due {
            item.notBefore = 0
            hand(item)
        }
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

    private func hand(_ item: Item) {
        if let index = waiters.firstIndex(where: { $0.holdsConnection }) ?? waiters.indices.first {
            let waiter = waiters.remove(at: index)
            inFlight[item.envelope.mid] = item.pending.count
            waiter.continuation.resume(returning: .deliver(item))
        } else {
            ready.append(item)
        }
    }

    // MARK: - Workers

    private func next(holdsConnection: Bool) async -> Instruction {
        if stopping { return .stop }
        if !isDown, let item = ready.popFirst() {
            inFlight[item.envelope.mid] = item.pending.count
            return .deliver(item)
        }
        let now = clock()
        return await withCheckedContinuation { continuation in
            waiters.append(Waiter(continuation: continuation, holdsConnection: holdsConnection, since: now))
        }
    }

    /// Moves due retries to the ready list, expires old messages, closes idle connections.
    private func tick() async {
        let now = clock()
        if let downUntil, now >= downUntil {
            self.downUntil = nil
            log.info("Host \(destination.host) (\(destination.name)) retry: marking up for a new attempt")
        }
        if !deferred.isEmpty && !isDown {
            var still: [Item] = []
            for item in deferred {
                if item.notBefore <= now { hand(item) } else { still.append(item) }
            }
            deferred = still
        }
        // Expire what waited too long (checked on the deferred list; ready items go out now anyway).
        let expired = deferred.filter { now - $0.envelope.receivedAt > policy.maxQueueLifetime }
        if !expired.isEmpty {
            deferred.removeAll { now - $0.envelope.receivedAt > policy.maxQueueLifetime }
            for item in expired { await expire(item) }
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

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for _ in 0..<max(1, destination.maxConnections) {
                    group.addTask { await self.worker() }
                }
                group.addTask {
                    while await !self.stopping {
                        try? await Task.sleep(for: self.tickInterval)
                        await self.tick()
                    }
                }
            }
        } onGracefulShutdown: {
            Task { await self.stop() }
        }
    }

    /// Stops the workers (for callers that do not use a ServiceGroup).
    public func shutdown() { stop() }

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
                    dcid = spool.nextDCID()
                    connection = await connect(dcid: dcid)
                    guard connection != nil else {
                        await connectionFailed(item)
                        continue
                    }
                }
                let keep = await deliver(item, over: connection!, dcid: dcid)
                if !keep {
                    await close(connection!, dcid: dcid)
                    connection = nil
                }
            }
        }
    }

    private nonisolated func connect(dcid: UInt64) async -> SMTPClientConnection? {
        do {
            let connection = try await SMTPClientConnection.connect(
                host: destination.host, port: destination.port, group: group,
                options: SMTPClientOptions(
                    localHostname: policy.localHostname, tlsContext: tlsContext,
                    // SNI and name checks need a host name; for an IP literal only the chain is verified.
                    tlsServerName: destination.tls == .required && (try? SocketAddress(ipAddress: destination.host, port: 0)) == nil
                        ? destination.host : nil,
                    tlsRequired: destination.tls == .required),
                onConnected: { localAddress in
                    self.log.info("New SMTP DCID \(dcid) interface \(localAddress) address \(self.destination.host) port \(self.destination.port)")
                })
            if let tls = connection.tlsProtocol {
                log.info("DCID \(dcid) TLS success protocol \(tls) cipher unknown \(destination.name)")
            }
            await connectionOpened()
            return connection
        } catch SMTPClientError.tlsFailed(let why) {
            log.info("DCID \(dcid) TLS failed: \(why)")
            if destination.tls == .required {
                log.info("DCID \(dcid) TLS was required but could not be successfully negotiated")
            }
            return nil
        } catch {
            log.info("Connection Error: DCID \(dcid) domain: \(destination.name) IP: \(destination.host) port: \(destination.port) details: \(error)")
            return nil
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
        log.info("Delivery start DCID \(dcid) MID \(mid) to RID \(Self.ridList(item.pending))")
        var parameters: [String] = []
        if connection.extensions.size != nil { parameters.append("SIZE=\(body.readableBytes)") }
        if connection.extensions.eightBitMIME { parameters.append("BODY=8BITMIME") }
        let results = await connection.deliver(
            mailFrom: item.envelope.mailFrom,
            recipients: item.pending.map { item.envelope.recipients[$0] },
            parameters: parameters, body: body)
        var done: [Int] = []
        var failed: [FailedRecipient] = []
        var later: [Int] = []
        var doneReply: SMTPReply?
        for (rid, result) in zip(item.pending, results) {
            switch result {
            case .delivered(let reply):
                done.append(rid)
                doneReply = reply
            case .failed(let reply):
                failed.append(FailedRecipient(rid: rid, address: item.envelope.recipients[rid], reply: reply,
                                              remoteMTA: "dns; \(destination.host)"))
            case .deferred(let reply):
                later.append(rid)
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
            log.info("Message done DCID \(dcid) MID \(mid) to RID \(Self.ridList(done))")
            log.info("MID \(mid) RID \(Self.ridList(done)) Response '\(doneReply?.text ?? "")'")
        }
        if !failed.isEmpty {
            for failure in failed {
                log.info("Bounced: DCID \(dcid) MID \(mid) to RID [\(failure.rid)] - \(failure.reply.enhanced?.description ?? "5.0.0") ('\(failure.reply)')")
            }
            await bounce(item.envelope, body: body, failed)
        }
        await finishAttempt(item, delivered: done, failed: failed.map(\.rid), deferred: later)
        return connection.isActive
    }

    private nonisolated func bounce(_ envelope: MessageEnvelope, body: ByteBuffer?, _ failed: [FailedRecipient]) async {
        do {
            try await spool.record(.bounced, mid: envelope.mid, recipients: failed.map(\.rid))
        } catch {
            log.critical("MID \(envelope.mid) bounce could not be recorded: \(error)")
        }
        await onBounce(envelope, body, failed)
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
        if clock() - item.envelope.receivedAt > policy.maxQueueLifetime {
            deferred.append(rest)  // the next tick expires it
            return
        }
        reschedule(rest)
    }

    private func expire(_ item: Item) async {
        hardBounced += item.pending.count
        let hours = Int(policy.maxQueueLifetime / 3600)
        let reply = SMTPReply(554, EnhancedStatusCode(5, 4, 7), "Delivery expired: message in queue longer than \(hours)h")
        let failed = item.pending.map {
            FailedRecipient(rid: $0, address: item.envelope.recipients[$0], reply: reply, remoteMTA: nil)
        }
        log.info("Bounced: MID \(item.envelope.mid) to RID \(Self.ridList(item.pending)) - 5.4.7 ('\(reply)')")
        let body = try? await spool.body(of: item.envelope.mid)
        do {
            try await spool.record(.expired, mid: item.envelope.mid, recipients: item.pending)
        } catch {
            log.critical("MID \(item.envelope.mid) expiry could not be recorded: \(error)")
        }
        await onBounce(item.envelope, body, failed)
        log.info("Message finished MID \(item.envelope.mid) done")
    }

    static func ridList(_ rids: [Int]) -> String {
        "[" + rids.map(String.init).joined(separator: ", ") + "]"
    }
}
