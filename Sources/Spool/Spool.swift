#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The durable message store: an append-only journal of checksummed records in numbered
/// segment files, written by one writer thread with group commit.
///
/// A `store` returns only after its record is written and synced; many concurrent callers
/// share one write and one `fdatasync`. Bodies stay on disk and are read back with `pread`;
/// only envelopes and pending RIDs are kept in memory. See the "Spool on disk" section of
/// the module README for the format and the recovery rules.
public final class Spool: MessageSpool {
    /// Every message with pending recipients found when the spool was opened, in MID order.
    public let recovered: [SpooledMessage]
    /// Problems recovery found and worked around (torn tail truncated, corrupt records skipped).
    public let recoveryIssues: [SpoolRecoveryIssue]
    /// The spool directory.
    public let directory: String

    let options: SpoolOptions
    private let index: NIOLockedValueBox<SpoolIndex>
    private let queue: SpoolWriteQueue
    private let writer: SpoolJournalWriter
    private let ids: SpoolIDAllocator
    private let threadPool: NIOThreadPool
    private let handles: SpoolHandles
    private let closeOnce = NIOLockedValueBox(false)

    // MARK: Opening

    /// Opens the spool in `directory` (created if needed) and recovers its journal.
    ///
    /// - Throws: `SpoolError` if the directory cannot be created or locked, or a file cannot be read.
    public static func open(directory: String, options: SpoolOptions = .init()) throws -> Spool {
        try SpoolFiles.makeDirectory(directory)
        let directoryFD = try SpoolFiles.openDirectory(directory)
        let lockFD: Int32
        do {
            lockFD = try SpoolFiles.openFile(directory + "/lock", flags: O_RDWR | O_CREAT)
        } catch {
            _ = SpoolFiles.closeFD(directoryFD)
            throw error
        }
        let handles = SpoolHandles(directoryFD: directoryFD, lockFD: lockFD)
        do {
            guard flock(lockFD, LOCK_EX | LOCK_NB) == 0 else {
                throw SpoolError(.locked, "\(directory) is in use by another process or spool instance; stop it first, or give this one its own spool directory")
            }
            let recovery = try SpoolRecovery.run(directory: directory, options: options)
            for issue in recovery.issues {
                options.logger.error("spool recovery: \(issue)")
            }
            let ids = try SpoolIDAllocator(directory: directory, directoryFD: directoryFD, blockSize: options.idBlockSize,
                                           minimumMID: recovery.maxMID, logger: options.logger)
            return try Spool(directory: directory, options: options, recovery: recovery, ids: ids, handles: handles)
        } catch {
            handles.close()
            throw error
        }
    }

    private init(directory: String, options: SpoolOptions, recovery: SpoolRecovery, ids: SpoolIDAllocator,
                 handles: SpoolHandles) throws {
        self.directory = directory
        self.options = options
        self.ids = ids
        self.handles = handles
        self.recoveryIssues = recovery.issues
        var state = recovery.index
        self.recovered = state.messages.values.sorted { $0.envelope.mid < $1.envelope.mid }.map {
            SpooledMessage(envelope: $0.envelope, pendingRecipients: $0.pending)
        }
        let writer = SpoolJournalWriter(directory: directory, directoryFD: handles.directoryFD, options: options)
        if let last = recovery.appendable {
            writer.current = last.file
            writer.writeOffset = last.size
        } else {
            let number = (state.segments.keys.max() ?? 0) + 1
            let file = try writer.createSegment(number: number)
            state.segments[number] = SpoolIndex.Segment(file: file, live: 0, size: 0)
        }
        state.currentSegment = writer.current!.number
        self.writer = writer
        self.index = NIOLockedValueBox(state)
        self.queue = SpoolWriteQueue()
        self.threadPool = NIOThreadPool(numberOfThreads: 1)
        writer.reclaim(index)
        threadPool.start()
        threadPool.submit { [queue, writer, index, options, handles] _ in
            SpoolJournalWriter.run(queue: queue, writer: writer, index: index, options: options)
            // Stopped and drained: release the files (on this thread, which used them last).
            index.withLockedValue { state in
                state.closed = true
                state.messages = [:]
                state.segments = [:]
            }
            writer.current = nil
            handles.close()
        }
    }

    deinit {
        close()
    }

    /// Stops the writer thread after it has written everything already submitted, and
    /// closes the files. Later calls fail with `SpoolError.Code.closed`. Safe to call twice.
    public func close() {
        let first = closeOnce.withLockedValue { closed -> Bool in
            defer { closed = true }
            return !closed
        }
        guard first else { return }
        queue.stop()
        if queue.isWriterThread {
            // close() from a completion callback (or the last reference dropped there): the
            // writer drains the queue and releases the files on its own once the callback
            // returns; waiting for it here would deadlock.
            threadPool.shutdownGracefully { _ in }
        } else {
            try? threadPool.syncShutdownGracefully()
        }
    }

    // MARK: IDs

    public func nextMID() -> MID { ids.next(.mid) }
    public func nextICID() -> UInt64 { ids.next(.icid) }
    public func nextDCID() -> UInt64 { ids.next(.dcid) }

    // MARK: Storing

    /// Writes envelope and body; returns only once both are synced to disk.
    public func store(_ envelope: MessageEnvelope, body: ByteBuffer) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            store(envelope, body: body) { continuation.resume(with: $0) }
        }
    }

    /// Like `store(_:body:)` for event-loop code: completes `promise` once the message is durable.
    public func store(_ envelope: MessageEnvelope, body: ByteBuffer, promise: EventLoopPromise<Void>) {
        store(envelope, body: body) { promise.completeWith($0) }
    }

    /// Like `store(_:body:)` with a callback, called on the spool's writer thread once the
    /// message is durable (or with the error). Keep the callback short; hop to your own
    /// event loop for real work.
    public func store(_ envelope: MessageEnvelope, body: ByteBuffer,
                      completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        guard !envelope.recipients.isEmpty else {
            completion(.failure(SpoolError(.invalidArgument, "MID \(envelope.mid) has no recipients; nothing to store")))
            return
        }
        let (record, bodyOffset) = SpoolRecord.encodeMessage(envelope, pending: nil, body: body)
        let write = SpoolWriteQueue.Item(
            record: record,
            kind: .store(envelope: envelope, bodyOffset: bodyOffset, bodyLength: body.readableBytes),
            completion: completion)
        enqueue(write)
    }

    /// Records a final outcome for some recipients; returns once it is durable.
    /// RIDs that already have an outcome (or a MID that is finished or unknown) are ignored.
    public func record(_ outcome: RecipientOutcome, mid: MID, recipients: [Int]) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            record(outcome, mid: mid, recipients: recipients) { continuation.resume(with: $0) }
        }
    }

    /// Callback variant of `record(_:mid:recipients:)`; see `store(_:body:completion:)`.
    public func record(_ outcome: RecipientOutcome, mid: MID, recipients: [Int],
                       completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        if let error = refusal() {
            completion(.failure(error))
            return
        }
        let wanted = Set(recipients)
        let pending = index.withLockedValue { state -> [Int] in
            guard let entry = state.messages[mid] else { return [] }
            return entry.pending.filter { wanted.contains($0) }
        }
        guard !pending.isEmpty else {
            completion(.success(()))
            return
        }
        let record = SpoolRecord.encodeOutcome(outcome, mid: mid, recipients: pending)
        enqueue(SpoolWriteQueue.Item(record: record, kind: .outcome(mid: mid, recipients: pending), completion: completion))
    }

    /// Finishes message `mid` and stores `parts` in its place, atomically: after a crash
    /// either the original is still pending or every part is. This is how the scanning
    /// pipeline commits a verdict: a rewritten copy (a part may reuse the original's MID),
    /// a quarantine ticket, a split, a generated DSN or notification; no parts drops it.
    ///
    /// - Throws: `SpoolError.Code.unknownMessage` if `mid` has no pending recipient any more
    ///   (an administrator deleted it meanwhile): nothing is written.
    public func replace(_ mid: MID, with parts: [(envelope: MessageEnvelope, body: ByteBuffer)]) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            replace(mid, with: parts) { continuation.resume(with: $0) }
        }
    }

    /// Callback variant of `replace(_:with:)`; see `store(_:body:completion:)`.
    public func replace(_ mid: MID, with parts: [(envelope: MessageEnvelope, body: ByteBuffer)],
                        completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        if let part = parts.first(where: { $0.envelope.recipients.isEmpty }) {
            completion(.failure(SpoolError(.invalidArgument, "MID \(part.envelope.mid) has no recipients; nothing to store")))
            return
        }
        guard index.withLockedValue({ $0.messages[mid] != nil }) else {
            completion(.failure(SpoolError(.unknownMessage, "MID \(mid) is not in the spool (every recipient already has an outcome); nothing replaced")))
            return
        }
        let (record, offsets) = SpoolRecord.encodeReplace(original: mid, parts: parts)
        let written = zip(parts, offsets).map { (envelope: $0.envelope, bodyOffset: $1, bodyLength: $0.body.readableBytes) }
        enqueue(SpoolWriteQueue.Item(record: record, kind: .replace(original: mid, parts: written), completion: completion))
    }

    private func enqueue(_ item: SpoolWriteQueue.Item) {
        if let error = refusal() {
            item.completion?(.failure(error))
        } else if !queue.enqueue(item) {
            item.completion?(.failure(SpoolError(.closed, "the spool at \(directory) is closed")))
        }
    }

    private func refusal() -> SpoolError? {
        index.withLockedValue { state in
            if state.closed { return SpoolError(.closed, "the spool at \(directory) is closed") }
            return state.poisoned
        }
    }

    // MARK: Reading

    /// Reads the stored body of a message that has pending recipients.
    public func body(of mid: MID) async throws -> ByteBuffer {
        try bodySync(of: mid)
    }

    /// The body of a pending message, read with `pread` on the calling thread.
    public func bodySync(of mid: MID) throws -> ByteBuffer {
        let location = index.withLockedValue { state -> (SegmentFile, Int, Int)? in
            guard let entry = state.messages[mid] else { return nil }
            return (entry.file, entry.bodyOffset, entry.bodyLength)
        }
        guard let (file, offset, length) = location else {
            throw SpoolError(.unknownMessage, "MID \(mid) is not in the spool (never stored, or every recipient already has an outcome)")
        }
        return try SpoolFiles.readExactly(file.fd, offset: offset, length: length, path: file.path)
    }

    /// The envelope and pending RIDs of one message, or nil if it is finished or unknown.
    public func message(_ mid: MID) -> SpooledMessage? {
        index.withLockedValue { state in
            state.messages[mid].map { SpooledMessage(envelope: $0.envelope, pendingRecipients: $0.pending) }
        }
    }

    /// All messages with pending recipients, in MID order.
    public func pendingMessages() -> [SpooledMessage] {
        index.withLockedValue { state in
            state.messages.values.sorted { $0.envelope.mid < $1.envelope.mid }.map {
                SpooledMessage(envelope: $0.envelope, pendingRecipients: $0.pending)
            }
        }
    }

    /// Number of messages with pending recipients.
    public var pendingCount: Int {
        index.withLockedValue { $0.messages.count }
    }

    /// Counts for `status`: pending messages and recipients, segments, bytes on disk, syncs.
    public var stats: SpoolStats {
        index.withLockedValue { state in
            var stats = state.counters
            stats.pendingMessages = state.messages.count
            stats.pendingRecipients = state.messages.values.reduce(0) { $0 + $1.pending.count }
            stats.segments = state.segments.count
            stats.bytesOnDisk = state.segments.values.reduce(0) { $0 + $1.size }
            return stats
        }
    }

    /// Numbers of the segment files currently on disk, ascending (for tests and `status`).
    public var segmentNumbers: [Int] {
        index.withLockedValue { $0.segments.keys.sorted() }
    }
}

/// The directory and lock descriptors, closed once.
final class SpoolHandles: Sendable {
    let directoryFD: Int32
    let lockFD: Int32
    private let closed = NIOLockedValueBox(false)

    init(directoryFD: Int32, lockFD: Int32) {
        self.directoryFD = directoryFD
        self.lockFD = lockFD
    }

    func close() {
        let first = closed.withLockedValue { closed -> Bool in
            defer { closed = true }
            return !closed
        }
        guard first else { return }
        _ = SpoolFiles.closeFD(lockFD)
        _ = SpoolFiles.closeFD(directoryFD)
    }

    deinit { close() }
}
