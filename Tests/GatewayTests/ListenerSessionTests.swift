import Foundation
import MailLog
import NIOCore
import NIOPosix
import SMTPProtocol
import Spool
import Testing
@testable import Gateway

/// The listener's per-connection delegate, driven directly on an event loop.
@Suite struct ListenerSessionTests {
    static let hat = """
        $LIMITED
          ACCEPT {max_conn_per_ip = 2}
        ALL
          $LIMITED

        """

    /// A context whose reverse DNS waits until `release()`: its only thread is busy.
    final class Fixture: @unchecked Sendable {
        let directory: String
        let spool: Spool
        let rates = RateLimiter()
        let pool = NIOThreadPool(numberOfThreads: 1)
        let gate = DispatchSemaphore(value: 0)
        let context: ListenerContext
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()

        init() throws {
            directory = NSTemporaryDirectory() + "lazaret-session-\(UUID().uuidString.prefix(8))"
            spool = try Spool.open(directory: directory, options: SpoolOptions(fsync: false))
            pool.start()
            let log = MailLog(inMemoryKeeping: 100)
            context = ListenerContext(
                listener: GatewayConfiguration.Listener(name: "IncomingMail", interface: "Management", port: 25, hat: Self.hatText),
                interfaceName: "Management", hostname: "gw.test", hat: try HostAccessTable(parsing: Self.hatText),
                rat: try RecipientAccessTable(parsing: "ALL ACCEPT\n"), spool: spool, log: log, rates: rates,
                reverseDNS: ReverseDNS(pool: pool, ttl: .zero),
                router: MessageRouter(defaultDestination: "smarthost", queues: [:], spool: spool, log: log, hostname: "gw.test"))
        }

        static let hatText = ListenerSessionTests.hat

        /// Occupies the lookup thread until `release()`.
        func blockLookups() {
            pool.submit { _ in self.gate.wait() }
        }

        func release() { gate.signal() }

        func shutdown() throws {
            spool.close()
            try pool.syncShutdownGracefully()
            try? FileManager.default.removeItem(atPath: directory)
        }

        static let info = SMTPConnectionInfo(listenerName: "IncomingMail", remoteAddress: "127.0.0.1", remotePort: 40000,
                                             localAddress: "127.0.0.1", localPort: 25)
    }

    @Test func aClientThatHangsUpDuringTheDNSLookupLeavesNoSlotTaken() async throws {
        let fixture = try Fixture()
        defer { try? fixture.shutdown() }
        fixture.blockLookups()
        let decision = try await fixture.eventLoop.flatSubmit {
            let session = ListenerSession(context: fixture.context)
            let decision = session.connectionOpened(Fixture.info, eventLoop: fixture.eventLoop)
            session.connectionClosed(reason: "connection lost")  // before the lookup answers
            fixture.release()
            return decision
        }.get()
        #expect(decision == .refuse)
        #expect(fixture.rates.openConnections(from: Fixture.info.remoteAddress) == 0, "the per-IP slot must not leak")
    }

    @Test func eachSessionReleasesItsSlotExactlyOnce() async throws {
        let fixture = try Fixture()
        defer { try? fixture.shutdown() }
        let loop = fixture.eventLoop
        let sessions = try await loop.submit {
            NIOLoopBound([ListenerSession(context: fixture.context), ListenerSession(context: fixture.context)], eventLoop: loop)
        }.get()
        for index in 0..<2 {
            _ = try await loop.flatSubmit { sessions.value[index].connectionOpened(Fixture.info, eventLoop: loop) }.get()
        }
        let address = Fixture.info.remoteAddress
        #expect(fixture.rates.openConnections(from: address) == 2)
        try await loop.submit {
            sessions.value[0].connectionClosed(reason: "QUIT")
            sessions.value[0].connectionClosed(reason: "QUIT")
        }.get()
        #expect(fixture.rates.openConnections(from: address) == 1)
        try await loop.submit { sessions.value[1].connectionClosed(reason: "QUIT") }.get()
        #expect(fixture.rates.openConnections(from: address) == 0)
    }
}
