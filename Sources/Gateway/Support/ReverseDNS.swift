#if canImport(Glibc)
import Glibc
#endif
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The reverse DNS name of a connecting host and whether it is verified
/// (forward-confirmed: the name resolves back to the same address), as the
/// HAT needs it for hostname sender groups and mail_logs prints it.
public struct ReverseDNSResult: Sendable, Hashable {
    public var hostname: String?
    public var verified: Bool
}

/// Looks names up on a thread pool (the resolver blocks) and keeps answers
/// for a short time so that a busy relay does not ask for every connection.
public final class ReverseDNS: Sendable {
    private let pool: NIOThreadPool
    private let cache = NIOLockedValueBox([String: (ReverseDNSResult, NIODeadline)]())
    private let ttl: TimeAmount

    public init(pool: NIOThreadPool = .singleton, ttl: TimeAmount = .seconds(300)) {
        self.pool = pool
        self.ttl = ttl
    }

    public func lookup(_ address: String, eventLoop: EventLoop) -> EventLoopFuture<ReverseDNSResult> {
        let now = NIODeadline.now()
        if let hit = cache.withLockedValue({ $0[address] }), hit.1 > now {
            return eventLoop.makeSucceededFuture(hit.0)
        }
        return pool.runIfActive(eventLoop: eventLoop) {
            Self.resolve(address)
        }.map { result in
            self.cache.withLockedValue { cache in
                if cache.count > 10_000 { cache.removeAll() }
                cache[address] = (result, now + self.ttl)
            }
            return result
        }.recover { _ in ReverseDNSResult(hostname: nil, verified: false) }
    }

    static func resolve(_ address: String) -> ReverseDNSResult {
        guard let socketAddress = try? SocketAddress(ipAddress: address, port: 0) else {
            return ReverseDNSResult(hostname: nil, verified: false)
        }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        let rc: Int32 = socketAddress.withSockAddr { sa, len in
            getnameinfo(sa, socklen_t(len), &host, socklen_t(host.count), nil, 0, NI_NAMEREQD)
        }
        guard rc == 0 else { return ReverseDNSResult(hostname: nil, verified: false) }
        let name = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // Forward-confirm: the name must resolve back to the address.
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &result) == 0, let first = result else {
            return ReverseDNSResult(hostname: name, verified: false)
        }
        defer { freeaddrinfo(first) }
        var verified = false
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if let sa = entry.pointee.ai_addr {
                var text = [CChar](repeating: 0, count: Int(NI_MAXHOST))
                if getnameinfo(sa, entry.pointee.ai_addrlen, &text, socklen_t(text.count), nil, 0, NI_NUMERICHOST) == 0 {
                    let numeric = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    if numeric == address { verified = true; break }
                }
            }
            cursor = entry.pointee.ai_next
        }
        return ReverseDNSResult(hostname: name, verified: verified)
    }
}
