import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import Gateway

/// A clock the test moves by hand.
final class FakeClock: Sendable {
    private let seconds = NIOLockedValueBox<Int64>(1_000_000)
    var now: NIODeadline { .uptimeNanoseconds(UInt64(seconds.withLockedValue { $0 }) * 1_000_000_000) }
    func advance(seconds delta: Int64) { seconds.withLockedValue { $0 += delta } }
}

@Suite struct RateLimiterTests {
    @Test func recipientsPerSlidingHour() {
        let clock = FakeClock()
        let limiter = RateLimiter(clock: { clock.now })
        #expect(limiter.admitRecipients(3, from: "10.0.0.1", limit: 5))
        clock.advance(seconds: 600)
        #expect(limiter.admitRecipients(2, from: "10.0.0.1", limit: 5))
        #expect(!limiter.admitRecipients(from: "10.0.0.1", limit: 5))
        #expect(limiter.recipientsThisHour(from: "10.0.0.1") == 5)
        // Another IP has its own count; the mapped form is the same host.
        #expect(limiter.admitRecipients(5, from: "10.0.0.2", limit: 5))
        #expect(!limiter.admitRecipients(from: "::ffff:10.0.0.2", limit: 5))
        // After an hour the first 3 slide out, but not the 2 from ten minutes later.
        clock.advance(seconds: 3000)
        #expect(limiter.recipientsThisHour(from: "10.0.0.1") == 2)
        #expect(limiter.admitRecipients(3, from: "10.0.0.1", limit: 5))
        #expect(!limiter.admitRecipients(from: "10.0.0.1", limit: 5))
        clock.advance(seconds: 3600)
        #expect(limiter.recipientsThisHour(from: "10.0.0.1") == 0)
        #expect(limiter.admitRecipients(5, from: "10.0.0.1", limit: 5))
    }

    @Test func noLimitAlwaysAdmits() {
        let limiter = RateLimiter()
        for _ in 0..<100 { #expect(limiter.admitRecipients(from: "10.0.0.1", limit: nil)) }
        #expect(limiter.recipientsThisHour(from: "10.0.0.1") == 0)
    }

    @Test func connectionsPerIP() {
        let limiter = RateLimiter()
        #expect(limiter.acquireConnection(from: "192.0.2.1", limit: 2))
        #expect(limiter.acquireConnection(from: "192.0.2.1", limit: 2))
        #expect(!limiter.acquireConnection(from: "192.0.2.1", limit: 2))
        #expect(limiter.acquireConnection(from: "192.0.2.2", limit: 2))
        #expect(limiter.openConnections(from: "192.0.2.1") == 2)
        limiter.releaseConnection(from: "192.0.2.1")
        #expect(limiter.acquireConnection(from: "192.0.2.1", limit: 2))
        limiter.releaseConnection(from: "192.0.2.1")
        limiter.releaseConnection(from: "192.0.2.1")
        limiter.releaseConnection(from: "192.0.2.1") // one too many is harmless
        #expect(limiter.openConnections(from: "192.0.2.1") == 0)
    }

    @Test func concurrentUseKeepsCounts() async {
        let limiter = RateLimiter()
        await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<200 {
                group.addTask { limiter.admitRecipients(from: "10.9.9.9", limit: 150) }
            }
            var admitted = 0
            for await ok in group where ok { admitted += 1 }
            #expect(admitted == 150)
        }
        #expect(limiter.recipientsThisHour(from: "10.9.9.9") == 150)
    }

    @Test func replies() {
        #expect(RateLimiter.recipientLimitReply.description.hasPrefix("452 4.2.2 "))
        #expect(RateLimiter.connectionLimitReply.description.hasPrefix("421 4.7.0 "))
    }
}
