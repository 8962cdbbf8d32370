import Foundation
import MailLog
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SMTPProtocol
import Testing
@testable import Spool

/// The delivery queue as one component: an in-memory spool stands in for the
/// journal, and the next hop is our own SMTP server engine on 127.0.0.1 with a
/// scripted policy (`soft*` recipients get 451, `hard*` get 550) that can also
/// refuse connections, or hold them before the greeting until told.
@Suite(.serialized)
struct DeliveryQueueTests {
    final class MemorySpool: MessageSpool, @unchecked Sendable {
        private let lock = NIOLock()
        private var ids: UInt64 = 0
        private var bodies: [MID: ByteBuffer] = [:]
        private(set) var outcomes: [(RecipientOutcome, MID, [Int])] = []

        func nextMID() -> MID { lock.withLock { ids += 1; return ids } }
        func nextICID() -> UInt64 { nextMID() }
        func nextDCID() -> UInt64 { nextMID() }
        func store(_ envelope: MessageEnvelope, body: ByteBuffer) async throws { lock.withLock { bodies[envelope.mid] = body } }
        func body(of mid: MID) async throws -> ByteBuffer {
            try lock.withLock {
                guard let body = bodies[mid] else { throw SpoolError(.unknownMessage, "no MID \(mid)") }
                return body
            }
        }
        func record(_ outcome: RecipientOutcome, mid: MID, recipients: [Int]) async throws {
            lock.withLock { outcomes.append((outcome, mid, recipients)) }
        }
        func recorded(_ outcome: RecipientOutcome) -> [Int] {
            lock.withLock { outcomes.filter { $0.0 == outcome }.flatMap(\.2) }
        }
        func recorded(_ outcome: RecipientOutcome, mid: MID) -> [Int] {
            lock.withLock { outcomes.filter { $0.0 == outcome && $0.1 == mid }.flatMap(\.2) }
        }
        func add(_ envelope: MessageEnvelope) {
            lock.withLock { bodies[envelope.mid] = ByteBuffer(string: "Subject: t\r\n\r\nbody\r\n") }
        }
    }

    /// What the scripted next hop saw, and how it treats new connections.
    final class Hop: @unchecked Sendable {
        enum Mode { case accept, refuse, hold }
        private let lock = NIOLock()
        private var _connections = 0
        private var _messages = 0
        private var _rcpts = 0
        private var _mode = Mode.accept
        private var held: [EventLoopPromise<SMTPConnectionDecision>] = []

        var connections: Int { lock.withLock { _connections } }
        var messages: Int { lock.withLock { _messages } }
        /// RCPT commands answered, whatever the answer.
        var rcpts: Int { lock.withLock { _rcpts } }
        var heldConnections: Int { lock.withLock { held.count } }
        var mode: Mode {
            get { lock.withLock { _mode } }
            set { lock.withLock { _mode = newValue } }
        }

        func opened(on eventLoop: EventLoop) -> EventLoopFuture<SMTPConnectionDecision> {
            lock.withLock {
                _connections += 1
                switch _mode {
                case .accept: return eventLoop.makeSucceededFuture(.accept(SMTPSessionPolicy(tls: .off), greeting: "test hop"))
                case .refuse: return eventLoop.makeSucceededFuture(.refuse)
                case .hold:
                    let promise = eventLoop.makePromise(of: SMTPConnectionDecision.self)
                    held.append(promise)
                    return promise.futureResult
                }
            }
        }

        /// Answers the held connections with `decision`.
        func release(_ decision: SMTPConnectionDecision) {
            for promise in lock.withLock({ defer { held = [] }; return held }) { promise.succeed(decision) }
        }

        func countRcpt() { lock.withLock { _rcpts += 1 } }
        func countMessage() { lock.withLock { _messages += 1 } }

        /// The MAIL parameters of every transaction, in order.
        let mailParameters = NIOLockedValueBox<[[String: String]]>([])
        /// XTEST arguments received, in order (`REFUSE` is refused with 550).
        let extensionLines = NIOLockedValueBox<[String]>([])
    }

    /// Answers per recipient prefix; `hop` decides on connections and counts.
    final class ScriptedNextHop: SMTPServerDelegate {
        let hop: Hop
        init(hop: Hop) { self.hop = hop }
        func connectionOpened(_ info: SMTPConnectionInfo, eventLoop: EventLoop) -> EventLoopFuture<SMTPConnectionDecision> {
            hop.opened(on: eventLoop)
        }
        func tlsEstablished(protocolVersion: String, cipher: String) {}
        func mailFrom(_ transaction: SMTPTransaction, eventLoop: EventLoop) -> EventLoopFuture<SMTPReply> {
            hop.mailParameters.withLockedValue { $0.append(transaction.mailParameters) }
            return eventLoop.makeSucceededFuture(SMTPReply(250, EnhancedStatusCode(2, 1, 0), "ok"))
        }
        func rcptTo(_ recipient: String, transaction: SMTPTransaction, eventLoop: EventLoop) -> EventLoopFuture<SMTPReply> {
            hop.countRcpt()
            if recipient.hasPrefix("soft") { return eventLoop.makeSucceededFuture(SMTPReply(451, EnhancedStatusCode(4, 2, 1), "try later")) }
            if recipient.hasPrefix("hard") { return eventLoop.makeSucceededFuture(SMTPReply(550, EnhancedStatusCode(5, 1, 1), "no such user")) }
            return eventLoop.makeSucceededFuture(SMTPReply(250, EnhancedStatusCode(2, 1, 5), "ok"))
        }
        func messageReceived(_ transaction: SMTPTransaction, body: ByteBuffer, eventLoop: EventLoop) -> EventLoopFuture<SMTPReply> {
            hop.countMessage()
            return eventLoop.makeSucceededFuture(SMTPReply(250, EnhancedStatusCode(2, 0, 0), "Ok: queued"))
        }
        func extensionCommand(_ verb: String, argument: String, transaction: SMTPTransaction?,
                              eventLoop: EventLoop) -> EventLoopFuture<SMTPReply> {
            hop.extensionLines.withLockedValue { $0.append(argument) }
            if argument == "REFUSE" { return eventLoop.makeSucceededFuture(SMTPReply(550, EnhancedStatusCode(5, 7, 1), "not you")) }
            return eventLoop.makeSucceededFuture(SMTPReply(250, EnhancedStatusCode(2, 0, 0), "noted"))
        }
        func transactionAborted(_ transaction: SMTPTransaction) {}
        func connectionClosed(reason: String) {}
    }

    struct Bounces: Sendable {
        struct NotStored: Error {}
        let box = NIOLockedValueBox<[FailedRecipient]>([])
        /// While true the handler throws, as when the DSN cannot be stored.
        let failing = NIOLockedValueBox(false)
        /// Per call: whether an outcome for those recipients was already recorded (it must not be).
        let outcomeRecordedBefore = NIOLockedValueBox<[Bool]>([])
        var all: [FailedRecipient] { box.withLockedValue { $0 } }
        var calls: Int { outcomeRecordedBefore.withLockedValue { $0.count } }
    }

    static func envelope(_ mid: MID, _ recipients: [String], receivedAt: Double = Date().timeIntervalSince1970) -> MessageEnvelope {
        MessageEnvelope(mid: mid, icid: 1, listener: "test", remoteAddress: "127.0.0.1", heloName: "t", mailFrom: "s@x.example",
                        recipients: recipients, receivedAt: receivedAt, destination: "hop", size: 20)
    }

    static func waitUntil(_ what: String, _ condition: () async -> Bool) async throws {
        for _ in 0..<600 {
            if await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("timed out waiting for \(what)")
        throw CancellationError()
    }

    /// Runs `body` with a queue to a scripted next hop (or to a closed port, or to `port`).
    /// `noTLSContext` builds the queue as if its TLS client context could not be made.
    func withQueue(reachable: Bool = true, port fixedPort: Int? = nil, maxConnections: Int = 2, retryInitial: Double = 0.2,
                   hostDownAfterFailures: Int = 3, tls: DestinationTLSMode = .off, noTLSContext: Bool = false,
                   customization: DeliveryCustomization = DeliveryCustomization(),
                   clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
                   _ body: (DeliveryQueue, MemorySpool, Bounces, Hop, MailLog) async throws -> Void) async throws {
        let hop = Hop()
        var server: Channel?
        var port = fixedPort ?? 9  // discard: nothing listens there on a test machine
        if reachable, fixedPort == nil {
            let channel = try await SMTPServer.bind(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton,
                configuration: SMTPServerConfiguration(listenerName: "hop", hostname: "hop.test", extensionVerbs: ["XTEST"]),
                makeDelegate: { ScriptedNextHop(hop: hop) }).get()
            server = channel
            port = channel.localAddress!.port!
        }
        let spool = MemorySpool()
        let log = MailLog(inMemoryKeeping: 1000)
        let bounces = Bounces()
        let destination = Destination(name: "hop", host: "127.0.0.1", port: port, maxConnections: maxConnections, tls: tls)
        let policy = DeliveryPolicy(localHostname: "gw.test", retry: RetrySchedule(initial: retryInitial, maximum: retryInitial * 2),
                                    maxQueueLifetime: 3600, hostDownAfterFailures: hostDownAfterFailures, idleConnectionTimeout: 60)
        let onBounce: BounceHandler = { envelope, _, failed in
            let rids = Set(failed.map(\.rid))
            let before = !rids.isDisjoint(with: spool.recorded(.bounced, mid: envelope.mid) + spool.recorded(.expired, mid: envelope.mid))
            bounces.outcomeRecordedBefore.withLockedValue { $0.append(before) }
            if bounces.failing.withLockedValue({ $0 }) { throw Bounces.NotStored() }
            bounces.box.withLockedValue { $0.append(contentsOf: failed) }
        }
        let queue = noTLSContext
            ? DeliveryQueue(destination: destination, policy: policy, spool: spool, log: log, group: MultiThreadedEventLoopGroup.singleton,
                            tickInterval: .milliseconds(20), clock: clock, tlsContext: nil, onBounce: onBounce)
            : DeliveryQueue(destination: destination, policy: policy, spool: spool, log: log,
                            tickInterval: .milliseconds(20), clock: clock, customization: customization, onBounce: onBounce)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await queue.run() }
            do {
                try await body(queue, spool, bounces, hop, log)
            } catch {
                hop.release(.refuse)
                await queue.shutdown()
                try? await server?.close()
                throw error
            }
            hop.release(.refuse)
            await queue.shutdown()
            try await group.waitForAll()
        }
        try? await server?.close()
    }

    @Test func deliveredBouncedAndDeferredRecipientsAreRecordedApart() async throws {
        try await withQueue { queue, spool, bounces, _, log in
            let envelope = Self.envelope(1, ["ok@x.example", "hard@x.example", "soft@x.example"])
            spool.add(envelope)
            await queue.enqueue(SpooledMessage(envelope: envelope, pendingRecipients: [0, 1, 2]))
            try await Self.waitUntil("a retry of the soft recipient") { await queue.status.softBouncedRecipients >= 2 }
            #expect(spool.recorded(.delivered) == [0])
            #expect(spool.recorded(.bounced) == [1])
            #expect(bounces.all.map(\.rid) == [1])
            #expect(bounces.all.first?.reply.enhanced == EnhancedStatusCode(5, 1, 1))
            let status = await queue.status
            #expect(status.activeRecipients == 1, "the soft recipient stays queued")
            #expect(status.deliveredRecipients == 1 && status.hardBouncedRecipients == 1)
            // Between two attempts the soft recipient is queued (during one it is in flight).
            try await Self.waitUntil("the soft recipient queued between attempts") {
                await queue.queuedMessages.first?.pendingRecipients == [2]
            }
            #expect(log.recentLines.contains { $0.contains("Delayed: DCID") && $0.contains("to RID [2] - 4.2.1") })
        }
    }

    @Test func theAttemptObserverSeesEachRecipientAfterItsOutcomeIsRecorded() async throws {
        let seen = NIOLockedValueBox<[RecipientAttempt]>([])
        let recordedFirst = NIOLockedValueBox<[Bool]>([])
        let spoolBox = NIOLockedValueBox<MemorySpool?>(nil)
        let customization = DeliveryCustomization(onAttempt: { envelope, attempts in
            let spool = spoolBox.withLockedValue { $0 }
            for attempt in attempts where attempt.result == .delivered || attempt.result == .bounced {
                let outcome: RecipientOutcome = attempt.result == .delivered ? .delivered : .bounced
                recordedFirst.withLockedValue { $0.append(spool?.recorded(outcome, mid: envelope.mid).contains(attempt.rid) == true) }
            }
            seen.withLockedValue { $0.append(contentsOf: attempts) }
        })
        try await withQueue(customization: customization) { queue, spool, _, _, _ in
            spoolBox.withLockedValue { $0 = spool }
            let envelope = Self.envelope(1, ["ok@x.example", "hard@x.example", "soft@x.example"])
            spool.add(envelope)
            await queue.enqueue(SpooledMessage(envelope: envelope, pendingRecipients: [0, 1, 2]))
            try await Self.waitUntil("two attempts of the soft recipient") {
                seen.withLockedValue { $0.filter { $0.result == .deferred }.count } >= 2
            }
            let attempts = seen.withLockedValue { $0 }
            let first = Array(attempts.prefix(3))
            #expect(first.map(\.rid) == [0, 1, 2])
            #expect(first.map(\.result) == [.delivered, .bounced, .deferred])
            #expect(first.map(\.address) == ["ok@x.example", "hard@x.example", "soft@x.example"])
            #expect(first[0].reply.code == 250)
            #expect(first[1].reply.enhanced == EnhancedStatusCode(5, 1, 1))
            #expect(first[2].reply.code == 451)
            #expect(recordedFirst.withLockedValue { $0 } == [true, true], "the observer ran before the spool recorded the outcome")
            // Deleted by an administrator: the observer hears of it too.
            try await Self.waitUntil("the deletion (between two attempts)") {
                if seen.withLockedValue({ $0.contains { $0.result == .deleted } }) { return true }
                _ = await queue.deleteAll { _ in true }
                return seen.withLockedValue { $0.contains { $0.result == .deleted } }
            }
            #expect(seen.withLockedValue { $0.last?.rid } == 2)
        }
    }

    @Test func aPausedQueueStartsNoAttemptUntilResumed() async throws {
        try await withQueue { queue, spool, _, hop, _ in
            await queue.pauseDelivery()
            let envelope = Self.envelope(1, ["ok@x.example"])
            spool.add(envelope)
            await queue.enqueue(SpooledMessage(envelope: envelope, pendingRecipients: [0]))
            // delivernow while paused starts nothing either.
            let before = hop.connections
            for _ in 0..<5 { await queue.deliverNow() }
            let status = await queue.status
            #expect(status.isPaused && status.activeRecipients == 1)
            #expect(await queue.queuedMessages.map(\.envelope.mid) == [1])
            #expect(hop.messages == 0 && hop.connections == before)
            await queue.resumeDelivery()
            try await Self.waitUntil("the delivery after resume") { spool.recorded(.delivered) == [0] }
            #expect(await !queue.status.isPaused)
        }
    }

    @Test func oneConnectionCarriesManyMessages() async throws {
        try await withQueue(maxConnections: 1) { queue, spool, _, hop, _ in
            for mid in 1...20 as ClosedRange<MID> {
                let envelope = Self.envelope(mid, ["r\(mid)@x.example"])
                spool.add(envelope)
                await queue.enqueue(SpooledMessage(envelope: envelope, pendingRecipients: [0]))
            }
            try await Self.waitUntil("20 deliveries") { spool.recorded(.delivered).count == 20 }
            #expect(hop.messages == 20)
            #expect(hop.connections == 1, "the connection must be reused")
        }
    }

    @Test func unreachableHostIsMarkedDownAndDeliverNowClearsIt() async throws {
        try await withQueue(reachable: false, maxConnections: 1, retryInitial: 30) { queue, spool, _, _, log in
            for mid in 1...3 as ClosedRange<MID> {
                let envelope = Self.envelope(mid, ["r@x.example"])
                spool.add(envelope)
                await queue.enqueue(SpooledMessage(envelope: envelope, pendingRecipients: [0]))
            }
            try await Self.waitUntil("the host marked down") { await queue.status.isDown }
            #expect(log.recentLines.contains { $0.contains("marked down after 3 connection failures") })
            #expect(await queue.status.activeMessages == 3, "nothing is lost while the host is down")
            await queue.deliverNow()
            #expect(await !queue.status.isDown)
        }
    }

    @Test func expiredMessagesBounceWithoutAnotherAttempt() async throws {
        let now = NIOLockedValueBox(Date().timeIntervalSince1970)
        try await withQueue(reachable: false, maxConnections: 1, retryInitial: 0.05, clock: { now.withLockedValue { $0 } }) { queue, spool, bounces, _, _ in
            let envelope = Self.envelope(7, ["a@x.example", "b@x.example"], receivedAt: now.withLockedValue { $0 })
            spool.add(envelope)
            await queue.enqueue(SpooledMessage(envelope: envelope, pendingRecipients: [0, 1]))
            try await Self.waitUntil("a failed attempt") { await queue.status.softBouncedRecipients >= 2 }
            now.withLockedValue { $0 += 7200 }  // past the 1 h lifetime
            try await Self.waitUntil("the expiry") { spool.recorded(.expired) == [0, 1] }
            #expect(bounces.all.map(\.reply.enhanced) == [EnhancedStatusCode(5, 4, 7), EnhancedStatusCode(5, 4, 7)])
            #expect(await queue.status.activeRecipients == 0)
        }
    }

    @Test func deleteAllRemovesQueuedRecipientsAndRecordsThem() async throws {
        try await withQueue(reachable: false, maxConnections: 1, retryInitial: 30) { queue, spool, _, _, _ in
            let envelope = Self.envelope(3, ["a@x.example"])
            spool.add(envelope)
            await queue.enqueue(SpooledMessage(envelope: envelope, pendingRecipients: [0]))
            try await Self.waitUntil("the first failed attempt") { await queue.status.softBouncedRecipients >= 1 }
            let removed = await queue.deleteAll { _ in true }
            #expect(removed == 1)
            #expect(spool.recorded(.deleted) == [0])
            #expect(await queue.status.activeRecipients == 0)
        }
    }

    // MARK: - Expiry

    @Test func aMessageThatExpiresAfterAnAttemptIsBouncedNotTriedAgain() async throws {
        let now = NIOLockedValueBox(Date().timeIntervalSince1970)
        try await withQueue(maxConnections: 1, retryInitial: 0.05, clock: { now.withLockedValue { $0 } }) { queue, spool, bounces, hop, _ in
            let envelope = Self.envelope(5, ["soft@x.example"], receivedAt: now.withLockedValue { $0 } - 3500)
            spool.add(envelope)
            await queue.enqueue(SpooledMessage(envelope: envelope, pendingRecipients: [0]))
            try await Self.waitUntil("the first attempt") { await queue.status.softBouncedRecipients == 1 }
            #expect(hop.rcpts == 1)
            now.withLockedValue { $0 += 200 }  // past the 1 h lifetime, and past the retry time
            try await Self.waitUntil("the expiry") { spool.recorded(.expired) == [0] }
            #expect(hop.rcpts == 1, "an expired message is never handed out again")
            #expect(bounces.all.map(\.reply.enhanced) == [EnhancedStatusCode(5, 4, 7)])
            #expect(await queue.status.activeRecipients == 0)
        }
    }

    @Test func aMessageQueuedAfterItsLifetimeIsBouncedWithoutAnAttempt() async throws {
        try await withQueue(maxConnections: 1) { queue, spool, bounces, hop, _ in
            let envelope = Self.envelope(6, ["soft@x.example"], receivedAt: Date().timeIntervalSince1970 - 7200)
            spool.add(envelope)
            await queue.enqueue(SpooledMessage(envelope: envelope, pendingRecipients: [0]))
            try await Self.waitUntil("the expiry") { spool.recorded(.expired) == [0] }
            #expect(hop.rcpts == 0, "ready items are checked for expiry too")
            #expect(bounces.all.count == 1)
        }
    }

    /// A message received with SMTPUTF8 goes out with SMTPUTF8 (the next hop offers it);
    /// one without goes out without.
    @Test func smtpUTF8IsKeptFromTheInboundTransaction() async throws {
        try await withQueue { queue, spool, _, hop, _ in
            var utf8 = Self.envelope(20, ["ü@x.example"])
            utf8.attributes = MessageEnvelope.attributes(forMailParameters: ["SMTPUTF8": "", "BODY": "8bitmime"])
            #expect(utf8.requiresSMTPUTF8)
            #expect(utf8.attributes[MessageEnvelope.bodyTypeAttribute] == "8BITMIME")
            let plain = Self.envelope(21, ["a@x.example"])
            for envelope in [utf8, plain] {
                spool.add(envelope)
                await queue.enqueue(SpooledMessage(envelope: envelope, pendingRecipients: [0]))
                try await Self.waitUntil("delivery of MID \(envelope.mid)") { spool.recorded(.delivered, mid: envelope.mid) == [0] }
            }
            let parameters = hop.mailParameters.withLockedValue { $0 }
            #expect(parameters.count == 2)
            #expect(parameters.first?["SMTPUTF8"] != nil)
            #expect(parameters.last?["SMTPUTF8"] == nil)
            #expect(parameters.allSatisfy { $0["BODY"] == "8BITMIME" })
        }
    }

    /// A customized queue (the CPQ queues) sends its preamble lines before each MAIL,
    /// labels its delivery logs, and a refused preamble line fails the message.
    @Test func preambleLinesGoBeforeEachMailAndARefusalBounces() async throws {
        let customization = DeliveryCustomization(
            preamble: { envelope in envelope.mid == 31 ? ["XTEST REFUSE"] : ["XTEST first \(envelope.mid)", "XTEST second"] },
            logLabel: "Centralized Policy Quarantine")
        try await withQueue(customization: customization) { queue, spool, bounces, hop, log in
            let accepted = Self.envelope(30, ["a@x.example"])
            let refused = Self.envelope(31, ["b@x.example"])
            for envelope in [accepted, refused] {
                spool.add(envelope)
                await queue.enqueue(SpooledMessage(envelope: envelope, pendingRecipients: [0]))
            }
            try await Self.waitUntil("delivery and bounce") {
                spool.recorded(.delivered, mid: 30) == [0] && spool.recorded(.bounced, mid: 31) == [0]
            }
            let lines = hop.extensionLines.withLockedValue { $0 }
            #expect(lines.contains("first 30") && lines.contains("second") && lines.contains("REFUSE"))
            #expect(hop.messages == 1)
            #expect(bounces.all.first?.reply.enhanced == EnhancedStatusCode(5, 7, 1))
            let text = log.recentLines.joined(separator: "\n")
            #expect(text.contains("MID 30 to RID [0] to Centralized Policy Quarantine"), "\(text)")
            #expect(text.contains("MID 30 to RID [0] (centralized policy quarantine)"), "\(text)")
        }
    }

    /// The manager's release queue asks where a gateway is before each connection; while
    /// that fails the mail waits like mail for a host that is down, and goes out once it works.
    @Test func aRouteThatCannotBeLearntKeepsTheMailQueuedUntilItCan() async throws {
        struct NoRoute: Error, CustomStringConvertible { var description: String { "SSH to gw1 refused" } }
        let route = NIOLockedValueBox<DeliveryRoute?>(nil)
        let customization = DeliveryCustomization(route: {
            guard let known = route.withLockedValue({ $0 }) else { throw NoRoute() }
            return known
        })
        try await withQueue(retryInitial: 0.05, customization: customization) { queue, spool, _, hop, log in
            let envelope = Self.envelope(40, ["a@x.example"])
            spool.add(envelope)
            await queue.enqueue(SpooledMessage(envelope: envelope, pendingRecipients: [0]))
            try await Self.waitUntil("the host marked down") { await queue.status.isDown }
            #expect(log.recentLines.contains { $0.contains("Connection Error: DCID") && $0.contains("details: SSH to gw1 refused") })
            #expect(await queue.status.activeMessages == 1, "nothing is lost while the route is unknown")
            #expect(hop.messages == 0)
            let port = await queue.status.destination.port
            route.withLockedValue { $0 = DeliveryRoute(host: "127.0.0.1", port: port) }
            await queue.deliverNow()
            try await Self.waitUntil("the delivery") { spool.recorded(.delivered, mid: 40) == [0] }
            #expect(log.recentLines.contains { $0.contains("address 127.0.0.1 port \(port)") })
        }
    }

    // MARK: - The DSN before the outcome

    @Test func theDSNIsStoredBeforeTheBounceIsRecorded() async throws {
        try await withQueue { queue, spool, bounces, _, _ in
            let envelope = Self.envelope(8, ["hard@x.example"])
            spool.add(envelope)
            await queue.enqueue(SpooledMessage(envelope: envelope, pendingRecipients: [0]))
            try await Self.waitUntil("the bounce") { spool.recorded(.bounced) == [0] }
            #expect(bounces.outcomeRecordedBefore.withLockedValue { $0 } == [false])
        }
    }

    @Test func theDSNIsStoredBeforeTheExpiryIsRecorded() async throws {
        try await withQueue { queue, spool, bounces, _, _ in
            let envelope = Self.envelope(9, ["soft@x.example"], receivedAt: Date().timeIntervalSince1970 - 7200)
            spool.add(envelope)
            await queue.enqueue(SpooledMessage(envelope: envelope, pendingRecipients: [0]))
            try await Self.waitUntil("the expiry") { spool.recorded(.expired) == [0] }
            #expect(bounces.outcomeRecordedBefore.withLockedValue { $0 } == [false])
        }
    }

    @Test func aBounceWhoseDSNCannotBeStoredLeavesTheRecipientQueued() async throws {
        try await withQueue(maxConnections: 1) { queue, spool, bounces, hop, log in
            bounces.failing.withLockedValue { $0 = true }
            let envelope = Self.envelope(10, ["ok@x.example", "hard@x.example"])
            spool.add(envelope)
            await queue.enqueue(SpooledMessage(envelope: envelope, pendingRecipients: [0, 1]))
            try await Self.waitUntil("a second try of the refused recipient") { bounces.calls >= 2 }
            #expect(spool.recorded(.bounced).isEmpty, "no outcome without its DSN")
            #expect(spool.recorded(.delivered) == [0])
            #expect(await queue.queuedMessages.map(\.pendingRecipients).contains([1]) || hop.rcpts >= 3)
            #expect(log.recentLines.contains { $0.contains("bounce could not be stored") && $0.contains("stay queued") })
            bounces.failing.withLockedValue { $0 = false }
            try await Self.waitUntil("the bounce once the DSN can be stored") { spool.recorded(.bounced) == [1] }
            #expect(bounces.all.map(\.rid) == [1])
        }
    }

    @Test func anExpiryWhoseDSNCannotBeStoredLeavesTheRecipientsQueued() async throws {
        let now = NIOLockedValueBox(Date().timeIntervalSince1970)
        try await withQueue(retryInitial: 30, clock: { now.withLockedValue { $0 } }) { queue, spool, bounces, hop, _ in
            bounces.failing.withLockedValue { $0 = true }
            let envelope = Self.envelope(11, ["a@x.example", "b@x.example"], receivedAt: now.withLockedValue { $0 } - 7200)
            spool.add(envelope)
            await queue.enqueue(SpooledMessage(envelope: envelope, pendingRecipients: [0, 1]))
            try await Self.waitUntil("the failed expiry") { bounces.calls == 1 }
            #expect(spool.recorded(.expired).isEmpty)
            #expect(await queue.status.activeRecipients == 2, "nothing is lost")
            bounces.failing.withLockedValue { $0 = false }
            now.withLockedValue { $0 += 31 }  // the expiry is tried again after retry_initial
            try await Self.waitUntil("the expiry") { spool.recorded(.expired) == [0, 1] }
            #expect(bounces.calls == 2)
            #expect(hop.rcpts == 0)
        }
    }

    // MARK: - Host down, delivernow

    /// Messages that were ready when the host went down wait with idle workers;
    /// when the mark ends (by time, or `delivernow`) they must go out.
    @Test(arguments: [false, true])
    func readyMessagesGoOutWhenTheHostDownMarkEnds(viaDeliverNow: Bool) async throws {
        let now = NIOLockedValueBox(Date().timeIntervalSince1970)
        try await withQueue(maxConnections: 1, retryInitial: 30, hostDownAfterFailures: 1,
                            clock: { now.withLockedValue { $0 } }) { queue, spool, _, hop, _ in
            hop.mode = .hold
            for mid in 1...3 as ClosedRange<MID> {
                let envelope = Self.envelope(mid, ["r@x.example"])
                spool.add(envelope)
                await queue.enqueue(SpooledMessage(envelope: envelope, pendingRecipients: [0]))
                if mid == 1 {
                    try await Self.waitUntil("the worker connecting for MID 1") { hop.heldConnections == 1 }
                }
            }
            hop.mode = .accept
            hop.release(.refuse)  // the attempt for MID 1 fails; the host is marked down
            try await Self.waitUntil("the host marked down with an idle worker") {
                let down = await queue.status.isDown
                let idle = await queue.idleWorkers
                return down && idle == 1
            }
            #expect(await queue.deleteAll { $0.mid == 1 } == 1, "only MIDs 2 and 3 are left, both ready")
            if viaDeliverNow {
                await queue.deliverNow()
            } else {
                now.withLockedValue { $0 += 31 }
            }
            try await Self.waitUntil("MIDs 2 and 3 delivered") {
                spool.recorded(.delivered, mid: 2) == [0] && spool.recorded(.delivered, mid: 3) == [0]
            }
        }
    }

    // MARK: - TLS

    @Test func requiredTLSWithoutAClientContextSendsNothing() async throws {
        try await withQueue(maxConnections: 1, tls: .required, noTLSContext: true) { queue, spool, _, hop, log in
            let envelope = Self.envelope(12, ["r@x.example"])
            spool.add(envelope)
            await queue.enqueue(SpooledMessage(envelope: envelope, pendingRecipients: [0]))
            try await Self.waitUntil("the TLS failure") {
                log.recentLines.contains { $0.contains("TLS was required but could not be successfully negotiated") }
            }
            #expect(hop.messages == 0 && hop.rcpts == 0, "never in plain text")
            #expect(spool.recorded(.delivered).isEmpty)
            #expect(await queue.status.activeRecipients == 1, "the message stays queued")
        }
    }

    @Test(arguments: STARTTLSRefusingPeer.Behaviour.allCases)
    func opportunisticTLSFallsBackToPlainText(_ behaviour: STARTTLSRefusingPeer.Behaviour) async throws {
        let peer = try await STARTTLSRefusingPeer(behaviour)
        do {
            try await withQueue(port: peer.port, maxConnections: 1, tls: .opportunistic) { queue, spool, _, _, log in
                let envelope = Self.envelope(13, ["r@x.example"])
                spool.add(envelope)
                await queue.enqueue(SpooledMessage(envelope: envelope, pendingRecipients: [0]))
                try await Self.waitUntil("delivery in plain text") { spool.recorded(.delivered) == [0] }
                #expect(peer.startTLSAttempts == 1)
                #expect(peer.connections == 2, "one try with TLS, then one without")
                #expect(peer.messages == 1)
                #expect(log.recentLines.contains { $0.range(of: #"DCID \d+ TLS failed: "#, options: .regularExpression) != nil })
                #expect(!log.recentLines.contains { $0.contains("TLS was required") })
            }
        } catch {
            await peer.close()
            throw error
        }
        await peer.close()
    }

    // MARK: - Stopping

    @Test func cancellationStopsTheQueue() async throws {
        let queue = DeliveryQueue(
            destination: Destination(name: "hop", host: "127.0.0.1", port: 9, maxConnections: 2),
            policy: DeliveryPolicy(localHostname: "gw.test"), spool: MemorySpool(), log: MailLog(inMemoryKeeping: 10),
            tickInterval: .milliseconds(20), onBounce: { _, _, _ in })
        let running = Task { try await queue.run() }
        try await Self.waitUntil("the workers waiting") { await queue.idleWorkers == 2 }
        running.cancel()
        let stopped = NIOLockedValueBox(false)
        let watcher = Task {
            _ = try? await running.value
            stopped.withLockedValue { $0 = true }
        }
        do {
            try await Self.waitUntil("run() to return after cancellation") { stopped.withLockedValue { $0 } }
        } catch {
            await queue.shutdown()  // let the test end
        }
        await watcher.value
    }
}
