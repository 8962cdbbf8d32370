/// The in-memory index of the journal: where each pending message's body is, which RIDs
/// are still pending, and how many pending messages each segment holds.
struct SpoolIndex: Sendable {
    struct Entry: Sendable {
        var envelope: MessageEnvelope
        /// RIDs without an outcome, ascending; never empty (a finished message is removed).
        var pending: [Int]
        var file: SegmentFile
        var bodyOffset: Int
        var bodyLength: Int
    }

    struct Segment: Sendable {
        var file: SegmentFile
        /// Messages with pending recipients whose current copy is in this segment.
        var live: Int
        /// Bytes of the file that hold records.
        var size: Int
        /// Recovery found corruption in it: when released it is renamed to
        /// `damaged-segment-….log` for inspection instead of being deleted.
        var damaged = false
    }

    var messages: [MID: Entry] = [:]
    var segments: [Int: Segment] = [:]
    var currentSegment = 0
    var closed = false
    /// Set after a failed sync: every later write fails with this error.
    var poisoned: SpoolError?
    var counters = SpoolStats()

    /// All RIDs of a message with `count` recipients, or the valid ones of `list`, ascending.
    static func normalized(_ list: [Int]?, count: Int) -> [Int] {
        guard let list else { return Array(0..<count) }
        return Array(Set(list.filter { $0 >= 0 && $0 < count })).sorted()
    }

    /// Applies a message record (a new message, or a copy of one written by compaction).
    /// A later copy never revives a recipient: pending sets only shrink.
    mutating func applyMessage(_ envelope: MessageEnvelope, pending: [Int], file: SegmentFile,
                               bodyOffset: Int, bodyLength: Int, isCopy: Bool) {
        let mid = envelope.mid
        if var entry = messages[mid] {
            let keep = Set(pending)
            entry.pending = entry.pending.filter { keep.contains($0) }
            segments[entry.file.number]?.live -= 1
            if entry.pending.isEmpty {
                messages[mid] = nil
                return
            }
            entry.file = file
            entry.bodyOffset = bodyOffset
            entry.bodyLength = bodyLength
            messages[mid] = entry
            segments[file.number]?.live += 1
        } else {
            guard !isCopy, !pending.isEmpty else { return }
            messages[mid] = Entry(envelope: envelope, pending: pending, file: file, bodyOffset: bodyOffset, bodyLength: bodyLength)
            segments[file.number]?.live += 1
        }
    }

    /// Applies an outcome: the RIDs are no longer pending. Unknown MIDs are ignored.
    /// Returns true when this finished the message.
    @discardableResult
    mutating func applyOutcome(mid: MID, recipients: [Int]) -> Bool {
        guard var entry = messages[mid] else { return false }
        let done = Set(recipients)
        entry.pending.removeAll { done.contains($0) }
        if entry.pending.isEmpty {
            messages[mid] = nil
            segments[entry.file.number]?.live -= 1
            return true
        }
        messages[mid] = entry
        return false
    }

    /// Applies a replace: `original` is finished (whatever was pending) and each part
    /// becomes a new message with every recipient pending. A part may reuse the
    /// original's MID (the same message, rewritten). Unknown originals are ignored,
    /// but their parts are still added: the parts are what the record promises.
    mutating func applyReplace(original: MID, parts: [(envelope: MessageEnvelope, file: SegmentFile, bodyOffset: Int, bodyLength: Int)]) {
        if let entry = messages.removeValue(forKey: original) {
            segments[entry.file.number]?.live -= 1
        }
        for part in parts where !part.envelope.recipients.isEmpty {
            if let old = messages.removeValue(forKey: part.envelope.mid) {
                segments[old.file.number]?.live -= 1
            }
            messages[part.envelope.mid] = Entry(envelope: part.envelope, pending: Array(0..<part.envelope.recipients.count),
                                                file: part.file, bodyOffset: part.bodyOffset, bodyLength: part.bodyLength)
            segments[part.file.number]?.live += 1
        }
    }

    /// Removes and returns the oldest segments that, with every older one, hold no pending
    /// message (never the current segment). Delete their files in the returned order.
    mutating func takeReclaimable() -> [Segment] {
        var result: [Segment] = []
        for number in segments.keys.sorted() {
            guard number != currentSegment, let segment = segments[number], segment.live <= 0 else { break }
            result.append(segment)
            segments[number] = nil
        }
        return result
    }
}
