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

/// The writer side of the journal: the current segment, group commit, rotation,
/// space reclaim and compaction. Used by the single writer thread only (and by
/// `Spool.open` before that thread starts), hence `@unchecked Sendable`.
final class SpoolJournalWriter: @unchecked Sendable {
    let directory: String
    let directoryFD: Int32
    let options: SpoolOptions
    var current: SegmentFile?
    /// Where the next record goes in `current`; everything before it is synced.
    var writeOffset = 0
    private var staging = ByteBufferAllocator().buffer(capacity: 1 << 20)

    init(directory: String, directoryFD: Int32, options: SpoolOptions) {
        self.directory = directory
        self.directoryFD = directoryFD
        self.options = options
    }

    /// The writer thread's loop: commit whatever is pending, until stopped and drained.
    static func run(queue: SpoolWriteQueue, writer: SpoolJournalWriter, index: NIOLockedValueBox<SpoolIndex>,
                    options: SpoolOptions) {
        queue.registerWriterThread()
        while let batch = queue.take(maxBytes: options.maxBatchBytes) {
            writer.commit(batch, index: index)
            writer.compactIfUseful(index: index)
        }
    }

    /// Creates segment `number`, makes its existence durable, and makes it current.
    func createSegment(number: Int) throws -> SegmentFile {
        let path = directory + "/" + SegmentFile.name(number)
        let fd = try SpoolFiles.openFile(path, flags: O_RDWR | O_CREAT | O_TRUNC)
        let file = SegmentFile(number: number, path: path, fd: fd)
        if options.fsync {
            try SpoolFiles.fullSync(fd, path: path)
            try SpoolFiles.fullSync(directoryFD, path: directory)
        }
        current = file
        writeOffset = 0
        return file
    }

    // MARK: Group commit

    private struct Written {
        var item: SpoolWriteQueue.Item
        var file: SegmentFile
        var offset: Int
    }

    /// Writes `batch` with one write and one sync per segment touched, updates the index,
    /// reclaims space, then completes every item.
    func commit(_ batch: [SpoolWriteQueue.Item], index: NIOLockedValueBox<SpoolIndex>) {
        let refusal = index.withLockedValue { state -> SpoolError? in
            if let poisoned = state.poisoned { return poisoned }
            if state.closed { return SpoolError(.closed, "the spool at \(directory) is closed") }
            return nil
        }
        if let refusal {
            for item in batch { item.completion?(.failure(refusal)) }
            return
        }
        var written: [Written] = []
        var failed: [(SpoolWriteQueue.Item, any Error)] = []
        var chunk: [Written] = []
        var failure: (any Error)?
        staging.clear()

        func fail(_ items: [SpoolWriteQueue.Item], _ error: any Error) {
            for item in items { failed.append((item, error)) }
        }

        for item in batch {
            if failure == nil, let current, writeOffset + staging.readableBytes > 0,
               writeOffset + staging.readableBytes + item.record.readableBytes > options.segmentSize {
                do {
                    try flush(index: index)
                    written += chunk
                    chunk = []
                    let next = try createSegment(number: current.number + 1)
                    index.withLockedValue { state in
                        state.segments[next.number] = SpoolIndex.Segment(file: next, live: 0, size: 0)
                        state.currentSegment = next.number
                    }
                } catch {
                    failure = error
                    fail(chunk.map(\.item), error)
                    chunk = []
                }
            }
            guard failure == nil, let current else {
                fail([item], failure ?? SpoolError(.write, "no open segment"))
                continue
            }
            chunk.append(Written(item: item, file: current, offset: writeOffset + staging.readableBytes))
            staging.writeImmutableBuffer(item.record)
        }
        if failure == nil && !chunk.isEmpty {
            do {
                try flush(index: index)
                written += chunk
            } catch {
                fail(chunk.map(\.item), error)
            }
        }

        let reclaimable = index.withLockedValue { state -> [SpoolIndex.Segment] in
            for w in written {
                switch w.item.kind {
                case .store(let envelope, let bodyOffset, let bodyLength):
                    state.applyMessage(envelope, pending: Array(0..<envelope.recipients.count), file: w.file,
                                       bodyOffset: w.offset + bodyOffset, bodyLength: bodyLength, isCopy: false)
                case .copy(let envelope, let pending, let bodyOffset, let bodyLength):
                    state.applyMessage(envelope, pending: pending, file: w.file,
                                       bodyOffset: w.offset + bodyOffset, bodyLength: bodyLength, isCopy: true)
                    state.counters.compactedMessages += 1
                case .outcome(let mid, let recipients):
                    state.applyOutcome(mid: mid, recipients: recipients)
                case .replace(let original, let parts):
                    state.applyReplace(original: original, parts: parts.map {
                        (envelope: $0.envelope, file: w.file, bodyOffset: w.offset + $0.bodyOffset, bodyLength: $0.bodyLength)
                    })
                }
            }
            state.counters.records += written.count
            state.counters.batches += 1
            return state.takeReclaimable()
        }
        delete(reclaimable)
        for w in written { w.item.completion?(.success(())) }
        for (item, error) in failed { item.completion?(.failure(error)) }
    }

    /// Writes the staged bytes at `writeOffset` of the current segment and syncs them.
    /// A failed write is truncated away (so later records never follow garbage); a failed
    /// sync poisons the spool, since the kernel may have dropped the dirty pages.
    private func flush(index: NIOLockedValueBox<SpoolIndex>) throws {
        guard let current, staging.readableBytes > 0 else { return }
        do {
            try staging.withUnsafeReadableBytes { raw in
                if let inject = options.faults.failWrite, inject() {
                    // Simulate a write that stops half way (disk full).
                    try SpoolFiles.writeAll(current.fd, UnsafeRawBufferPointer(rebasing: raw[..<(raw.count / 2)]),
                                            at: writeOffset, path: current.path)
                    throw SpoolError(.write, "writing \(current.path) at offset \(writeOffset + raw.count / 2) failed: No space left on device (injected); free disk space; the messages were not acknowledged")
                }
                try SpoolFiles.writeAll(current.fd, raw, at: writeOffset, path: current.path)
            }
        } catch {
            do {
                try SpoolFiles.truncate(current.fd, to: writeOffset, path: current.path)
            } catch let truncateError as SpoolError {
                poison(index, SpoolError(.write, "\(error); then \(truncateError.message). The spool stopped accepting mail: fix the disk and restart"))
            }
            staging.clear()
            throw error
        }
        if options.fsync {
            do {
                if let inject = options.faults.failSync, inject() {
                    throw SpoolError(.sync, "fdatasync of \(current.path) failed: Input/output error (injected); check the disk, then restart")
                }
                try SpoolFiles.dataSync(current.fd, path: current.path)
            } catch let error as SpoolError {
                poison(index, SpoolError(.sync, "\(error.message). The spool stopped accepting mail: fix the disk and restart (recovery will keep every acknowledged message)"))
                staging.clear()
                throw error
            }
        }
        writeOffset += staging.readableBytes
        staging.clear()
        let size = writeOffset
        let synced = options.fsync
        index.withLockedValue { state in
            state.segments[current.number]?.size = size
            if synced { state.counters.syncs += 1 }
        }
    }

    private func poison(_ index: NIOLockedValueBox<SpoolIndex>, _ error: SpoolError) {
        options.logger.critical("\(error)")
        index.withLockedValue { state in
            if state.poisoned == nil { state.poisoned = error }
        }
    }

    // MARK: Space reclaim

    /// Deletes segments that `SpoolIndex.takeReclaimable` released, oldest first; the directory
    /// is synced after each, so a crash can never bring back an older segment without the
    /// newer one that holds its outcomes. A damaged segment is renamed, not deleted.
    func delete(_ segments: [SpoolIndex.Segment]) {
        for segment in segments {
            let file = segment.file
            if segment.damaged {
                let kept = directory + "/damaged-" + SegmentFile.name(file.number)
                if rename(file.path, kept) != 0 {
                    options.logger.error("cannot rename damaged spool segment \(file.path) to \(kept): \(SpoolFiles.errnoText()); it will be retried at the next start")
                    return
                }
                options.logger.warning("damaged spool segment \(file.path) is no longer needed; kept as \(kept) for inspection, delete it when done")
            } else if unlink(file.path) != 0 && errno != ENOENT {
                options.logger.error("cannot delete spool segment \(file.path): \(SpoolFiles.errnoText()); it will be retried at the next start")
                return
            }
            if options.fsync {
                do {
                    try SpoolFiles.fullSync(directoryFD, path: directory)
                } catch {
                    options.logger.error("\(error)")
                }
            }
        }
    }

    func reclaim(_ index: NIOLockedValueBox<SpoolIndex>) {
        delete(index.withLockedValue { $0.takeReclaimable() })
    }

    // MARK: Compaction

    /// When the oldest segment (not the current or the one before it) is held only by a few
    /// messages, copies them, with their current pending sets, into the current segment;
    /// once that is synced the old segment has no live message and is deleted.
    func compactIfUseful(index: NIOLockedValueBox<SpoolIndex>) {
        let limit = options.compactionMaxMessages
        guard limit > 0 else { return }
        let entries = index.withLockedValue { state -> [SpoolIndex.Entry] in
            guard !state.closed, state.poisoned == nil,
                  let oldest = state.segments.keys.min(), oldest < state.currentSegment - 1,
                  let segment = state.segments[oldest], segment.live > 0, segment.live <= limit
            else { return [] }
            return state.messages.values.filter { $0.file.number == oldest }.sorted { $0.envelope.mid < $1.envelope.mid }
        }
        guard !entries.isEmpty else { return }
        var items: [SpoolWriteQueue.Item] = []
        for entry in entries {
            do {
                let body = try SpoolFiles.readExactly(entry.file.fd, offset: entry.bodyOffset, length: entry.bodyLength,
                                                      path: entry.file.path)
                let (record, bodyOffset) = SpoolRecord.encodeMessage(entry.envelope, pending: entry.pending, body: body)
                items.append(SpoolWriteQueue.Item(
                    record: record,
                    kind: .copy(envelope: entry.envelope, pending: entry.pending, bodyOffset: bodyOffset, bodyLength: entry.bodyLength),
                    completion: nil))
            } catch {
                options.logger.error("compaction skipped: \(error)")
                return
            }
        }
        commit(items, index: index)
    }
}
