import NIOConcurrencyHelpers
import NIOCore
import SMTPProtocol

/// Counts what each sending IP does across all connections of a listener:
/// recipients in a sliding hour (`max_rcpts_per_hour`) and connections open
/// at once (`max_conn_per_ip`). Thread-safe; share one per listener.
///
/// The limiter only counts and answers yes or no; the caller sends
/// `RateLimiter.recipientLimitReply` (`452 4.2.2`) or
/// `RateLimiter.connectionLimitReply` (`421 4.7.0`).
public final class RateLimiter: Sendable {
    /// Granularity of the sliding hour: recipients are counted per minute.
    public static let bucketSeconds: Int64 = 60
    /// The window `max_rcpts_per_hour` applies to.
    public static let windowSeconds: Int64 = 3600

    /// `452 4.2.2 Too many recipients this hour, try again later`
    public static let recipientLimitReply = SMTPReply(452, EnhancedStatusCode(4, 2, 2), "Too many recipients this hour, try again later")
    /// `421 4.7.0 Too many connections from your address`
    public static let connectionLimitReply = SMTPReply(421, EnhancedStatusCode(4, 7, 0), "Too many connections from your address")

    private struct State {
        /// Per IP: (bucket index, recipients) for the buckets of the last hour, oldest first.
        var recipients: [String: [(bucket: Int64, count: Int)]] = [:]
        var connections: [String: Int] = [:]
        var operationsSincePrune = 0

        /// Drops IPs whose buckets are all older than the window, every 1024 operations.
        mutating func pruneIfDue(now bucket: Int64) {
            operationsSincePrune += 1
            guard operationsSincePrune >= 1024 else { return }
            operationsSincePrune = 0
            let oldest = bucket - RateLimiter.windowSeconds / RateLimiter.bucketSeconds
            recipients = recipients.filter { $0.value.contains { $0.bucket > oldest } }
        }
    }

    private let state = NIOLockedValueBox(State())
    private let clock: @Sendable () -> NIODeadline

    /// - Parameter clock: the current time; tests pass a fake one.
    public init(clock: @escaping @Sendable () -> NIODeadline = { .now() }) {
        self.clock = clock
    }

    /// Records `count` recipients for `address` if that keeps it within
    /// `limit` per sliding hour; returns false (and records nothing) otherwise.
    /// A nil limit always allows and records nothing.
    public func admitRecipients(_ count: Int = 1, from address: String, limit: Int?) -> Bool {
        guard let limit else { return true }
        let key = Self.key(address)
        let bucket = currentBucket()
        return state.withLockedValue { state in
            state.pruneIfDue(now: bucket)
            var buckets = state.recipients[key, default: []]
            buckets.removeAll { $0.bucket <= bucket - Self.bucketsPerWindow }
            let used = buckets.reduce(0) { $0 + $1.count }
            guard used + count <= limit else {
                state.recipients[key] = buckets.isEmpty ? nil : buckets
                return false
            }
            if let last = buckets.indices.last, buckets[last].bucket == bucket {
                buckets[last].count += count
            } else {
                buckets.append((bucket, count))
            }
            state.recipients[key] = buckets
            return true
        }
    }

    /// Recipients counted for `address` in the current sliding hour.
    public func recipientsThisHour(from address: String) -> Int {
        let key = Self.key(address)
        let bucket = currentBucket()
        return state.withLockedValue { state in
            (state.recipients[key] ?? []).filter { $0.bucket > bucket - Self.bucketsPerWindow }.reduce(0) { $0 + $1.count }
        }
    }

    /// Takes one connection slot for `address` if fewer than `limit` are open;
    /// returns false otherwise. Pair every true answer with `releaseConnection`.
    /// A nil limit always allows (and still counts, so that `openConnections` is right).
    public func acquireConnection(from address: String, limit: Int?) -> Bool {
        let key = Self.key(address)
        return state.withLockedValue { state in
            let open = state.connections[key, default: 0]
            if let limit, open >= limit { return false }
            state.connections[key] = open + 1
            return true
        }
    }

    /// Gives back a slot taken with `acquireConnection`.
    public func releaseConnection(from address: String) {
        let key = Self.key(address)
        state.withLockedValue { state in
            guard let open = state.connections[key] else { return }
            state.connections[key] = open > 1 ? open - 1 : nil
        }
    }

    /// Connections open from `address` now.
    public func openConnections(from address: String) -> Int {
        let key = Self.key(address)
        return state.withLockedValue { $0.connections[key, default: 0] }
    }

    private static let bucketsPerWindow = windowSeconds / bucketSeconds

    private func currentBucket() -> Int64 {
        Int64(clock().uptimeNanoseconds / 1_000_000_000) / Self.bucketSeconds
    }

    /// The canonical address text, so that `::ffff:10.0.0.1` and `10.0.0.1` share a count.
    private static func key(_ address: String) -> String {
        IPAddress(address)?.unmapped.description ?? address
    }
}
