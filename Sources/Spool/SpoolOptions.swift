import Logging

/// Tuning knobs of a `Spool`; the defaults are what production uses.
public struct SpoolOptions: Sendable {
    /// Default size at which the journal moves on to a new segment file.
    public static let defaultSegmentSize = 64 * 1024 * 1024
    /// Default upper bound on the bytes the writer thread commits with one write + one sync.
    public static let defaultMaxBatchBytes = 16 * 1024 * 1024
    /// Default number of ids reserved by one write of the `ids` file.
    public static let defaultIDBlockSize: UInt64 = 10_000

    /// Sync every batch to disk before acknowledging it. `false` only for benchmarks
    /// that measure what the syncs cost: mail acknowledged then can be lost on a crash.
    public var fsync: Bool
    /// The journal moves to a new segment file once the current one would grow past this.
    public var segmentSize: Int
    /// The writer thread commits at most this many bytes per write + sync (at least one record).
    public var maxBatchBytes: Int
    /// How many MIDs/ICIDs/DCIDs one durable update of the `ids` file reserves.
    public var idBlockSize: UInt64
    /// Compaction: when the oldest segment is held only by at most this many messages
    /// (long-deferred ones), copy them forward into the current segment and delete it.
    /// 0 turns compaction off.
    public var compactionMaxMessages: Int
    /// Where recovery problems and I/O errors are logged.
    public var logger: Logger
    /// Fault injection for tests of the error paths.
    var faults = SpoolFaultInjection()

    public init(fsync: Bool = true,
                segmentSize: Int = SpoolOptions.defaultSegmentSize,
                maxBatchBytes: Int = SpoolOptions.defaultMaxBatchBytes,
                idBlockSize: UInt64 = SpoolOptions.defaultIDBlockSize,
                compactionMaxMessages: Int = 16,
                logger: Logger = Logger(label: "lazaret.spool")) {
        self.fsync = fsync
        self.segmentSize = segmentSize
        self.maxBatchBytes = maxBatchBytes
        self.idBlockSize = max(1, idBlockSize)
        self.compactionMaxMessages = compactionMaxMessages
        self.logger = logger
    }
}

/// Test-only hooks that make the writer fail as a full or broken disk would.
struct SpoolFaultInjection: Sendable {
    /// Asked before each write; true makes it write half the bytes and fail.
    var failWrite: (@Sendable () -> Bool)?
    /// Asked before each sync; true makes it fail.
    var failSync: (@Sendable () -> Bool)?
}
