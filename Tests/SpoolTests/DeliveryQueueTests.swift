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
/// scripted policy (`soft*` recipients get 451, `hard*` get 550).
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
        func add(_ envelope: MessageEnvelope) {
            lock.withLock { bodies[envelope.mid] = ByteBuffer(string: "Subject: t\r\n\r\nbody\r\n") }
        }
    }

    /// Counts connections and messages; answers per recipient prefix.
    final class ScriptedNextHop: SMTPServerDelegate {
        let counters: NIOLockedValueBox<(connections: Int, messages: Int)>
        init(counters: NIOLockedValueBox<(connections: Int, messages: Int)>) { self.counters = counters }
        func connectionOpened(_ info: SMTPConnectionInfo, eventLoop: EventLoop) -> EventLoopFuture<SMTPConnectionDecision> {
            counters.withLockedValue { $0.connections += 1 }
            return eventLoop.makeSucceededFuture(.accept(SMTPSessionPolicy(tls: .off), greeting: "test hop"))
        }
        func tlsEstablished(protocolVersion: String, cipher: String) {}
        func mailFrom(_ transaction: SMTPTransaction, eventLoop: EventLoop) -> EventLoopFuture<SMTPReply> {
            eventLoop.makeSucceededFuture(SMTPReply(250, EnhancedStatusCode(2, 1, 0), "ok"))
        }
        func rcptTo(_ recipient: String, transaction: SMTPTransaction, eventLoop: EventLoop) -> EventLoopFuture<SMTPReply> {
            if recipient.hasPrefix("soft") { return eventLoop.makeSucceededFuture(SMTPReply(451, EnhancedStatusCode(4, 2, 1), "try later")) }
            if recipient.hasPrefix("hard") { return eventLoop.makeSucceededFuture(SMTPReply(550, EnhancedStatusCode(5, 1, 1), "no such user")) }
            return eventLoop.makeSucceededFuture(SMTPReply(250, EnhancedStatusCode(2, 1, 5), "ok"))
        }
        func messageReceived(_ transaction: SMTPTransaction, body: ByteBuffer, eventLoop: EventLoop) -> EventLoopFuture<SMTPReply> {
            counters.withLockedValue { $0.messages += 1 }
            return eventLoop.makeSucceededFuture(SMTPReply(250, EnhancedStatusCode(2, 0, 0), "Ok: queued"))
        }
        func transactionAborted(_ transaction: SMTPTransaction) {}
        func connectionClosed(reason: String) {}
    }

    struct Bounces: Sendable {
        let box = NIOLockedValueBox<[FailedRecipient]>([])
        var all: [FailedRecipient] { box.withLockedValue { $0 } }
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

    /// Runs `body` with a queue to a scripted next hop (or to a closed port).
    func withQueue(reachable: Bool = true, maxConnections: Int = 2, retryInitial: Double = 0.2,
                   clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
                   _ body: (DeliveryQueue, MemorySpool, Bounces, NIOLockedValueBox<(connections: Int, messages: Int)>, MailLog) async throws -> Void) async throws {
        let counters = NIOLockedValueBox((connections: 0, messages: 0))
        var server: Channel?
        var port = 9  // discard: nothing listens there on a test machine
        if reachable {
            let channel = try await SMTPServer.bind(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton,
                configuration: SMTPServerConfiguration(listenerName: "hop", hostname: "hop.test"),
                makeDelegate: { ScriptedNextHop(counters: counters) }).get()
            server = channel
            port = channel.localAddress!.port!
        }
        let spool = MemorySpool()
        let log = MailLog(inMemoryKeeping: 1000)
        let bounces = Bounces()
        let queue = DeliveryQueue(
            destination: Destination(name: "hop", host: "127.0.0.1", port: port, maxConnections: maxConnections),
            policy: DeliveryPolicy(localHostname: "gw.test", retry: RetrySchedule(initial: retryInitial, maximum: retryInitial * 2),
                                   maxQueueLifetime: 3600, hostDownAfterFailures: 3, idleConnectionTimeout: 60),
            spool: spool, log: log, tickInterval: .milliseconds(20), clock: clock,
            onBounce: { _, _, failed in bounces.box.withLockedValue { $0.append(contentsOf: failed) } })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await queue.run() }
            do {
                try await body(queue, spool, bounces, counters, log)
            } catch {
                await queue.shutdown()
                try? await server?.close()
                throw error
            }
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
            #expect(await queue.queuedMessages.first?.pendingRecipients == [2])
            #expect(log.recentLines.contains { $0.contains("Delayed: DCID") && $0.contains("to RID [2] - 4.2.1") })
        }
    }

    @Test func oneConnectionCarriesManyMessages() async throws {
        try await withQueue(maxConnections: 1) { queue, spool, _, counters, _ in
            for mid in 1...20 as ClosedRange<MID> {
                let envelope = Self.envelope(mid, ["r\(mid)@x.example"])
                spool.add(envelope)
                await queue.enqueue(SpooledMessage(envelope: envelope, pendingRecipients: [0]))
            }
            try await Self.waitUntil("20 deliveries") { spool.recorded(.delivered).count == 20 }
            #expect(counters.withLockedValue { $0.messages } == 20)
            #expect(counters.withLockedValue { $0.connections } == 1, "the connection must be reused")
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
}
