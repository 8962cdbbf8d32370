#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers
import NIOCore

/// The lock-protected list of encoded records waiting for the writer thread.
final class SpoolWriteQueue: @unchecked Sendable {
    // @unchecked: `items` and `stopping` are only touched while holding `condition`.

    struct Item: Sendable {
        enum Kind: Sendable {
            case store(envelope: MessageEnvelope, bodyOffset: Int, bodyLength: Int)
            /// A compaction copy of a pending message; `pending` is its pending set when copied.
            case copy(envelope: MessageEnvelope, pending: [Int], bodyOffset: Int, bodyLength: Int)
            case outcome(mid: MID, recipients: [Int])
            /// `original` finished, `parts` new pending messages (body offsets inside the record).
            case replace(original: MID, parts: [(envelope: MessageEnvelope, bodyOffset: Int, bodyLength: Int)])
        }
        var record: ByteBuffer
        var kind: Kind
        var completion: (@Sendable (Result<Void, any Error>) -> Void)?
    }

    private static let idle = 0
    private static let ready = 1

    /// Value `ready` while there is work (items, or a stop request).
    private let condition = ConditionLock(value: SpoolWriteQueue.idle)
    private var items: [Item] = []
    private var stopping = false
    private var writerThread: pthread_t?

    /// Called by the writer thread when it starts.
    func registerWriterThread() {
        condition.lock()
        writerThread = pthread_self()
        condition.unlock()
    }

    /// Whether the caller runs on the writer thread (where waiting for it would deadlock).
    var isWriterThread: Bool {
        condition.lock()
        defer { condition.unlock() }
        guard let writerThread else { return false }
        return pthread_equal(writerThread, pthread_self()) != 0
    }

    /// Queues `item` for the writer; false (item not queued) once the queue is stopping.
    func enqueue(_ item: Item) -> Bool {
        condition.lock()
        guard !stopping else {
            condition.unlock()
            return false
        }
        items.append(item)
        condition.unlock(withValue: Self.ready)
        return true
    }

    func stop() {
        condition.lock()
        stopping = true
        condition.unlock(withValue: Self.ready)
    }

    /// Waits for work; returns up to `maxBytes` of items (at least one), or nil once stopped and drained.
    func take(maxBytes: Int) -> [Item]? {
        condition.lock(whenValue: Self.ready)
        var bytes = 0
        var count = 0
        while count < items.count && (count == 0 || bytes + items[count].record.readableBytes <= maxBytes) {
            bytes += items[count].record.readableBytes
            count += 1
        }
        let batch = Array(items[0..<count])
        items.removeFirst(count)
        let done = batch.isEmpty && stopping
        condition.unlock(withValue: items.isEmpty && !stopping ? Self.idle : Self.ready)
        return done ? nil : batch
    }
}
