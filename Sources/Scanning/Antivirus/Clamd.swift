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
/// chunks, `zVERSION`, `zPING` (see clamd(8)). One connection per request; every request
/// has a deadline, so a hung clamd costs at most `timeout`.
public struct ClamdClient: Sendable {
    public let address: ClamdAddress
    /// Upper bound for one request, connection included.
    public var timeout: TimeAmount
    /// Chunk size for INSTREAM; keep it under clamd's `StreamMaxLength`.
    public var chunkSize: Int
    private let group: any EventLoopGroup

    public init(address: ClamdAddress, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                timeout: TimeAmount = .seconds(30), chunkSize: Int = 64 * 1024) {
        self.address = address
        self.group = group
        self.timeout = timeout
        self.chunkSize = max(1024, chunkSize)
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

    /// Sends `request` and reads the NUL-terminated reply, within `timeout`.
    private func exchange(_ request: ByteBuffer) async throws -> String {
        let deadline = timeout
        return try await withThrowingTaskGroup(of: String.self) { tasks in
            tasks.addTask { try await self.send(request) }
            tasks.addTask {
                try await Task.sleep(nanoseconds: UInt64(deadline.nanoseconds))
                throw ClamdError("no answer from clamd at \(address) within \(deadline.nanoseconds / 1_000_000) ms")
            }
            defer { tasks.cancelAll() }
            return try await tasks.next()!
        }
    }

    private func send(_ request: ByteBuffer) async throws -> String {
        let bootstrap = ClientBootstrap(group: group).connectTimeout(timeout)
        let initializer: @Sendable (any Channel) -> EventLoopFuture<NIOAsyncChannel<ByteBuffer, ByteBuffer>> = { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            switch address {
            case .unix(let path):
                channel = try await bootstrap.connect(unixDomainSocketPath: path, channelInitializer: initializer)
            case .tcp(let host, let port):
                channel = try await bootstrap.connect(host: host, port: port, channelInitializer: initializer)
            }
        } catch {
            throw ClamdError("cannot connect to clamd at \(address): \(error); is clamd running and is the socket path right?")
        }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(request)
            var reply = ByteBuffer()
            for try await var chunk in inbound {
                reply.writeBuffer(&chunk)
                if reply.readableBytesView.last == 0 { break }
                guard reply.readableBytes < 64 * 1024 else { throw ClamdError("clamd reply too long") }
            }
            guard reply.readableBytes > 0 else { throw ClamdError("clamd at \(address) closed the connection without a reply") }
            return String(decoding: reply.readableBytesView, as: UTF8.self)
        }
    }
}

/// A clamd request that failed; the message says what to check.
public struct ClamdError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
