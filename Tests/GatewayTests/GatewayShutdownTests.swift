import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycleTestKit
import Spool
import Testing
@testable import Gateway

/// A raw SMTP client: sends text, collects the final line of each reply.
final class LineClient: Sendable {
    private let channel: Channel
    private let state: NIOLockedValueBox<(replies: [String], closed: Bool)>
    private let next = NIOLockedValueBox(0)

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let state: NIOLockedValueBox<(replies: [String], closed: Bool)>
        var pending = ""
        init(state: NIOLockedValueBox<(replies: [String], closed: Bool)>) { self.state = state }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            pending += String(buffer: unwrapInboundIn(data))
            while let end = pending.range(of: "\r\n") {
                let line = String(pending[..<end.lowerBound])
                pending.removeSubrange(..<end.upperBound)
                if line.count >= 4, line[line.index(line.startIndex, offsetBy: 3)] == " " {
                    state.withLockedValue { $0.replies.append(line) }
                }
            }
        }
        func channelInactive(context: ChannelHandlerContext) {
            state.withLockedValue { $0.closed = true }
        }
    }

    init(port: Int) async throws {
        let state = NIOLockedValueBox((replies: [String](), closed: false))
        self.state = state
        channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(state: state))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
    }

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text))
    }

    /// The next reply (its last line), or nil once the server closed the connection
    /// (or after 30 s without one; the caller's expectation then fails).
    func reply() async -> String? {
        for _ in 0..<1500 {
            let (replies, closed) = state.withLockedValue { ($0.replies, $0.closed) }
            let index = next.withLockedValue { $0 }
            if index < replies.count {
                next.withLockedValue { $0 += 1 }
                return replies[index]
            }
            if closed { return nil }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    func close() async { try? await channel.close() }
}

@Suite(.serialized, .timeLimit(.minutes(2)))
struct GatewayShutdownTests {
    @Test func gracefulShutdownEndsSessionsBeforeTheQueuesAndTheSpool() async throws {
        let home = NSTemporaryDirectory() + "lazaret-shutdown-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: home) }
        var configuration = GatewayConfiguration.defaults(home: home)
        configuration.listeners = [GatewayConfiguration.Listener(name: "IncomingMail", interface: "Management", port: 0)]
        configuration.destinations = [GatewayConfiguration.Destination(name: "smarthost", host: "127.0.0.1", port: 9)]
        configuration.delivery = GatewayConfiguration.Delivery(defaultDestination: "smarthost", retryInitialSeconds: 3600)
        configuration.spool = GatewayConfiguration.SpoolSettings(fsync: false)
        configuration.ssh.port = 0
        let port = NIOLockedValueBox<Int?>(nil)
        let gateway = Gateway(configuration: configuration, home: home, drainTimeout: .seconds(60)) { lines in
            let listener = lines.first { $0.hasPrefix("listener IncomingMail") }
            port.withLockedValue { $0 = listener.flatMap { Int($0.split(separator: ":").last ?? "") } }
        }

        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await gateway.run() }
                var listening: Int?
                for _ in 0..<1500 where listening == nil {
                    listening = port.withLockedValue { $0 }
                    if listening == nil { try await Task.sleep(for: .milliseconds(20)) }
                }
                let listenerPort = try #require(listening, "the gateway did not start")

                let busy = try await LineClient(port: listenerPort)
                #expect(await busy.reply()?.hasPrefix("220 ") == true)
                try await busy.send("EHLO busy.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
                for expected in ["250 ", "250 ", "250 ", "354 "] {
                    #expect(await busy.reply()?.hasPrefix(expected) == true)
                }
                try await busy.send("Subject: in flight\r\n\r\nfirst half\r\n")

                let idle = try await LineClient(port: listenerPort)
                #expect(await idle.reply()?.hasPrefix("220 ") == true)
                try await idle.send("EHLO idle.test\r\n")
                #expect(await idle.reply()?.hasPrefix("250 ") == true)

                trigger.triggerGracefulShutdown()

                #expect(await idle.reply()?.hasPrefix("421 4.3.2") == true, "an idle session is told at once")
                #expect(await idle.reply() == nil, "and closed")

                try await busy.send("second half\r\n.\r\n")
                #expect(await busy.reply()?.hasPrefix("250 2.0.0 Ok: queued as MID") == true,
                        "the transaction in progress finishes: the spool is still open")
                #expect(await busy.reply()?.hasPrefix("421 4.3.2") == true)
                #expect(await busy.reply() == nil)

                await #expect(throws: (any Error).self, "no new connections") { _ = try await LineClient(port: listenerPort) }
                try await group.waitForAll()
                await busy.close()
                await idle.close()
            }
        }

        let spool = try Spool.open(directory: home + "/spool", options: SpoolOptions(fsync: false))
        #expect(spool.recovered.count == 1, "the accepted message waits in the spool for the next start")
        spool.close()
        let logs = (try? String(contentsOfFile: home + "/logs/mail_logs", encoding: .utf8)) ?? ""
        #expect(logs.contains("Gateway stopping: listeners closed, 2 inbound session(s) to finish"))
        #expect(logs.contains("Gateway stopped"))
    }
}
