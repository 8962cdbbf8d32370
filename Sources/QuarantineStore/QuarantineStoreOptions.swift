import Foundation
import Logging

/// How a `QuarantineStore` behaves; every limit has a named default.
public struct QuarantineStoreOptions: Sendable {
    /// Largest message body accepted (100 MiB): far above any gateway's maximum message size,
    /// far below SQLite's 1 GB value limit.
    public static let defaultMaxMessageBytes = 100 << 20
    /// Most quarantines one message can be held in at once.
    public static let defaultMaxHolds = 16
    /// Most envelope recipients of one message (RFC 5321 §4.5.3.1.8 requires at least 100).
    public static let defaultMaxRecipients = 1000
    /// Most transfers committed in one transaction (group commit).
    public static let defaultMaxBatchMessages = 256
    /// Most body bytes committed in one transaction; a larger single body still goes alone.
    public static let defaultMaxBatchBytes = 32 << 20
    /// Largest page `list` returns.
    public static let maxListLimit = 1000
    /// Longest user name, gateway name, quarantine name, transfer id or address accepted.
    public static let maxNameBytes = 1024
    /// How much of the header section is scanned for `Subject` and `Message-ID`.
    public static let headerScanBytes = 64 << 10

    public var maxMessageBytes: Int
    public var maxHolds: Int
    public var maxRecipients: Int
    public var maxBatchMessages: Int
    public var maxBatchBytes: Int
    /// `true` (the default): every commit is synced to disk before the call returns (SQLite
    /// `synchronous = FULL`, `fullfsync` on Darwin). `false` only for tests and benchmarks.
    public var fsync: Bool
    /// The most body bytes the store keeps for all quarantines together; a transfer that
    /// would go over is refused with `.full` (nil: no quota).
    public var quotaBytes: Int64?
    public var logger: Logger
    /// The clock for `stored_at`, `requested_at`, outcome times and hold expiry.
    public var now: @Sendable () -> Date

    /// Runs inside the transfer transaction after the rows are written, before the commit.
    /// Tests use it to look at the disk as a crash at that moment would leave it.
    var beforeTransferCommit: (@Sendable () throws -> Void)?

    public init(maxMessageBytes: Int = defaultMaxMessageBytes, maxHolds: Int = defaultMaxHolds,
                maxRecipients: Int = defaultMaxRecipients, maxBatchMessages: Int = defaultMaxBatchMessages,
                maxBatchBytes: Int = defaultMaxBatchBytes, fsync: Bool = true,
                logger: Logger = Logger(label: "lazaret.quarantine-store"),
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.maxMessageBytes = maxMessageBytes
        self.maxHolds = maxHolds
        self.maxRecipients = maxRecipients
        self.maxBatchMessages = max(1, maxBatchMessages)
        self.maxBatchBytes = maxBatchBytes
        self.fsync = fsync
        self.logger = logger
        self.now = now
    }
}
