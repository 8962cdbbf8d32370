import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Where clamd listens: its `LocalSocket` (Debian: `/var/run/clamav/clamd.ctl`) or a
/// `TCPSocket` on some host.
public enum ClamdAddress: Sendable, Hashable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: Int)

    /// Parses `/path/to/socket`, `unix:/path`, or `host:port`.
    public init?(_ text: String) {
        if text.hasPrefix("unix:") {
            self = .unix(path: String(text.dropFirst(5)))
        } else if text.hasPrefix("/") {
            self = .unix(path: text)
        } else if let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
                  (1...65535).contains(port), colon != text.startIndex {
            self = .tcp(host: String(text[..<colon]), port: port)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .unix(let path): return path
        case .tcp(let host, let port): return "\(host):\(port)"
        }
    }
}

/// What the anti-virus engine said about one message.
public enum AntivirusVerdict: Sendable, Hashable, CustomStringConvertible {
    /// Scanned, nothing found.
    case clean
    /// Virus names as clamd reported them (`Eicar-Test-Signature`).
    case infected([String])
    /// Content the engine could not open because it is encrypted (a password-protected
    /// archive, an encrypted PDF); clamd reports these as `Heuristics.Encrypted.*`.
    case encrypted(String)
    /// Scanned, but not completely: a limit was hit or the content is broken.
    case unscannable(String)
    /// No verdict at all: clamd is down, timed out or answered something we do not know.
    /// Never the same as clean.
    case unavailable(String)

    public var description: String {
        switch self {
        case .clean: return "negative"
        case .infected(let names): return "positive '\(names.joined(separator: "', '"))'"
        case .encrypted(let detail): return "encrypted (\(detail))"
        case .unscannable(let detail): return "unscannable (\(detail))"
        case .unavailable(let detail): return "unavailable (\(detail))"
        }
    }

    /// Maps one clamd reply (`stream: OK`, `stream: Name FOUND`, `... ERROR`) to a verdict.
    public init(clamdReply raw: String) {
        var reply = raw
        while reply.last == "\0" || reply.last == "\n" { reply.removeLast() }
        let body = reply.hasPrefix("stream: ") ? String(reply.dropFirst(8)) : reply
        if body == "OK" {
            self = .clean
        } else if body.hasSuffix(" FOUND") {
            let name = String(body.dropLast(6))
            if name.hasPrefix("Heuristics.Encrypted") {
                self = .encrypted(name)
            } else if name.hasPrefix("Heuristics.Limits") || name.hasPrefix("Heuristics.Broken") {
                self = .unscannable(name)
            } else {
                self = .infected([name])
            }
        } else if body.hasSuffix(" ERROR") {
            let detail = String(body.dropLast(6))
            if detail.lowercased().contains("size limit exceeded") {
                self = .unscannable(detail)
            } else {
                self = .unavailable("clamd error: \(detail)")
            }
        } else {
            self = .unavailable("unexpected clamd reply: \(String(body.prefix(200)))")
        }
    }
}

/// A clamd client speaking its socket protocol: `zINSTREAM` with 4-byte length-prefixed
/// chunks, `zVERSION`, `zPING` (see clamd(8)). Scans run on pooled connections kept
/// open with `zIDSESSION`, one request at a time per connection, so a busy gateway does
/// not pay a connect (and clamd a new thread hand-off) per message. Every request has a
/// deadline; a connection that failed or timed out is closed, never reused. A request on a
/// pooled connection that clamd had closed meanwhile (its `IdleTimeout`) is tried once
/// more on a fresh connection.
public struct ClamdClient: Sendable {
    public let address: ClamdAddress
    /// Upper bound for one request, connection included.
    public var timeout: TimeAmount
    /// Chunk size for INSTREAM; keep it under clamd's `StreamMaxLength`.
    public var chunkSize: Int
    private let group: any EventLoopGroup
    let pool: ClamdConnectionPool

    public init(address: ClamdAddress, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                timeout: TimeAmount = .seconds(30), chunkSize: Int = 64 * 1024, maxIdleConnections: Int = 16) {
        self.address = address
        self.group = group
        self.timeout = timeout
        self.chunkSize = max(1024, chunkSize)
        self.pool = ClamdConnectionPool(maxIdle: maxIdleConnections)
    }

    /// Scans `message` (the whole RFC 5322 message; clamd walks the MIME itself).
    /// Never throws: an engine problem is `.unavailable`.
    public func scan(_ message: ByteBuffer) async -> AntivirusVerdict {
        var request = ByteBufferAllocator().buffer(capacity: message.readableBytes + 32 + 4 * (message.readableBytes / chunkSize + 2))
        request.writeString("zINSTREAM\0")
        var rest = message
        while rest.readableBytes > 0 {
            var chunk = rest.readSlice(length: min(chunkSize, rest.readableBytes))!
            request.writeInteger(UInt32(chunk.readableBytes))
            request.writeBuffer(&chunk)
        }
        request.writeInteger(UInt32(0))
        do {
            return AntivirusVerdict(clamdReply: try await exchange(request))
        } catch {
            return .unavailable("\(error)")
        }
    }

    /// The engine and signature version (`ClamAV 1.4.6/27471/Mon Nov 23 08:00:00 2026`).
    /// A change means the signatures changed.
    public func version() async throws -> String {
        var reply = try await exchange(ByteBuffer(string: "zVERSION\0"))
        while reply.last == "\0" || reply.last == "\n" { reply.removeLast() }
        return reply
    }

    /// Whether clamd answers `PONG`.
    public func ping() async -> Bool {
        (try? await exchange(ByteBuffer(string: "zPING\0")))?.hasPrefix("PONG") ?? false
    }

    /// Closes the idle pooled connections (they reopen on demand).
    public func closeIdleConnections() {
        pool.closeIdle()
    }

    /// Sends `request` on a pooled session connection and returns the reply without
    /// its `<id>: ` prefix, within `timeout`.
    private func exchange(_ request: ByteBuffer) async throws -> String {
        if let pooled = pool.take() {
            do {
                let reply = try await pooled.request(request, timeout: timeout, address: address)
                pool.put(pooled)
                return reply
            } catch let error as ClamdError where error.retryable {
                // clamd closed the idle session: one more try on a fresh connection.
            }
        }
        let connection = try await connect()
        let reply = try await connection.request(request, timeout: timeout, address: address)
        pool.put(connection)
        return reply
    }

    private func connect() async throws -> ClamdConnection {
        let bootstrap = ClientBootstrap(group: group).connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(ClamdReplyHandler()) }
            }
        let channel: any Channel
        do {
            switch address {
            case .unix(let path): channel = try await bootstrap.connect(unixDomainSocketPath: path).get()
            case .tcp(let host, let port): channel = try await bootstrap.connect(host: host, port: port).get()
            }
        } catch {
            throw ClamdError("cannot connect to clamd at \(address): \(error); is clamd running and is the socket path right?")
        }
        try await channel.writeAndFlush(ByteBuffer(string: "zIDSESSION\0")).get()
        return ClamdConnection(channel: channel)
    }
}

/// Idle session connections, reused one request at a time.
final class ClamdConnectionPool: Sendable {
    private let idle = NIOLockedValueBox<[ClamdConnection]>([])
    private let maxIdle: Int

    init(maxIdle: Int) { self.maxIdle = max(0, maxIdle) }

    func take() -> ClamdConnection? {
        idle.withLockedValue { $0.popLast() }
    }

    func put(_ connection: ClamdConnection) {
        let surplus = idle.withLockedValue { list -> ClamdConnection? in
            guard connection.channel.isActive else { return connection }
            guard list.count < maxIdle else { return connection }
            list.append(connection)
            return nil
        }
        surplus?.close()
    }

    /// Idle connections and whether each is still open (for tests and status).
    var idleStates: [Bool] { idle.withLockedValue { $0.map(\.channel.isActive) } }

    func closeIdle() {
        for connection in idle.withLockedValue({ list in defer { list = [] }; return list }) { connection.close() }
    }

    deinit { closeIdle() }
}

/// One clamd session connection.
final class ClamdConnection: Sendable {
    let channel: any Channel

    init(channel: any Channel) { self.channel = channel }

    /// Writes `request` and waits for the NUL-terminated reply (`1: stream: OK`); the
    /// channel is closed on any failure, so a broken connection is never reused.
    func request(_ request: ByteBuffer, timeout: TimeAmount, address: ClamdAddress) async throws -> String {
        let promise = channel.eventLoop.makePromise(of: String.self)
        let channel = self.channel
        channel.eventLoop.execute {
            guard let handler = try? channel.pipeline.syncOperations.handler(type: ClamdReplyHandler.self) else {
                promise.fail(ClamdError("clamd at \(address) closed the connection", retryable: true))
                return
            }
            handler.expect(promise)
            let deadline = channel.eventLoop.scheduleTask(in: timeout) {
                promise.fail(ClamdError("no answer from clamd at \(address) within \(timeout.nanoseconds / 1_000_000) ms"))
            }
            promise.futureResult.whenComplete { result in
                deadline.cancel()
                if case .failure = result { channel.close(promise: nil) }
            }
            channel.writeAndFlush(request).whenFailure { error in
                promise.fail(ClamdError("clamd at \(address) closed the connection: \(error)", retryable: true))
            }
        }
        var reply = try await promise.futureResult.get()
        // Inside IDSESSION every reply starts with its request number: "1: stream: OK".
        if let colon = reply.firstIndex(of: ":"), reply[..<colon].allSatisfy(\.isNumber), !reply[..<colon].isEmpty {
            reply = String(reply[reply.index(after: colon)...].drop { $0 == " " })
        }
        return reply
    }

    func close() {
        channel.writeAndFlush(ByteBuffer(string: "zEND\0")).whenComplete { _ in self.channel.close(promise: nil) }
    }
}

/// Collects bytes up to the NUL that ends a clamd reply and completes the waiting request.
final class ClamdReplyHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private var buffer = ByteBuffer()
    private var waiting: EventLoopPromise<String>?

    func expect(_ promise: EventLoopPromise<String>) {
        buffer.clear()
        waiting = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        buffer.writeBuffer(&bytes)
        if let end = buffer.readableBytesView.firstIndex(of: 0) {
            let length = end - buffer.readerIndex
            let text = buffer.readString(length: length) ?? ""
            buffer.moveReaderIndex(forwardBy: 1)
            let promise = waiting
            waiting = nil
            promise?.succeed(text)
        } else if buffer.readableBytes > 64 * 1024 {
            fail(ClamdError("clamd reply too long"), context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(ClamdError("clamd closed the connection without a reply", retryable: true), context: context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(ClamdError("clamd connection failed: \(error)", retryable: true), context: context)
    }

    private func fail(_ error: ClamdError, context: ChannelHandlerContext) {
        let promise = waiting
        waiting = nil
        promise?.fail(error)
        context.close(promise: nil)
    }
}

/// A clamd request that failed; the message says what to check.
public struct ClamdError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// The connection broke (not a timeout): a request on a pooled connection may be retried once.
    let retryable: Bool
    public init(_ description: String) { self.init(description, retryable: false) }
    init(_ description: String, retryable: Bool) {
        self.description = description
        self.retryable = retryable
    }
}
