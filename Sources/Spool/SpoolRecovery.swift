#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// Rebuilds the index from the segment files at open.
///
/// Segments are scanned in number order and records applied in journal order. A bad record
/// at the end of the newest segment with no valid record after it is a write cut short by a
/// crash (never acknowledged): the file is truncated there and appending continues. Any other
/// bad record is corruption: it is reported with file and offset, the rest of that segment is
/// skipped, later segments are still read, and new records go to a fresh segment.
struct SpoolRecovery {
    struct Appendable {
        var file: SegmentFile
        var size: Int
    }

    var index = SpoolIndex()
    var issues: [SpoolRecoveryIssue] = []
    /// The highest MID of any message record (finished or not).
    var maxMID: MID = 0
    /// The newest segment, if new records can be appended to it.
    var appendable: Appendable?

    static func run(directory: String, options: SpoolOptions) throws -> SpoolRecovery {
        var recovery = SpoolRecovery()
        let numbers = try SpoolFiles.listDirectory(directory).compactMap(SegmentFile.number(fromName:)).sorted()
        var finished = Set<MID>()
        for (position, number) in numbers.enumerated() {
            let isLast = position == numbers.count - 1
            let path = directory + "/" + SegmentFile.name(number)
            let fd = try SpoolFiles.openFile(path, flags: O_RDWR)
            let file = SegmentFile(number: number, path: path, fd: fd)
            let size = try SpoolFiles.fileSize(fd, path: path)
            let contents = try SpoolFiles.readExactly(fd, offset: 0, length: size, path: path)
            recovery.index.segments[number] = SpoolIndex.Segment(file: file, live: 0, size: size)
            var offset = 0
            var end = size
            var clean = true
            scan: while offset < size {
                let problem: String
                switch SpoolRecord.check(contents, at: offset) {
                case .valid(let length):
                    if let decoded = SpoolRecord.decode(contents, at: offset, length: length) {
                        recovery.apply(decoded, file: file, finished: &finished)
                        offset += length
                        continue scan
                    }
                    problem = "malformed record payload"
                case .incomplete(let detail):
                    problem = detail
                case .corrupt(let detail):
                    problem = detail
                }
                if isLast && !hasValidRecord(in: contents, after: offset) {
                    try SpoolFiles.truncate(fd, to: offset, path: path)
                    if options.fsync { try SpoolFiles.fullSync(fd, path: path) }
                    recovery.issues.append(SpoolRecoveryIssue(kind: .tornTail, file: path, offset: offset, detail: problem))
                    end = offset
                } else {
                    recovery.issues.append(SpoolRecoveryIssue(kind: .corruption, file: path, offset: offset, detail: problem))
                    recovery.index.segments[number]?.damaged = true
                    clean = false
                }
                break scan
            }
            recovery.index.segments[number]?.size = end
            if isLast && clean {
                recovery.appendable = Appendable(file: file, size: end)
            }
        }
        return recovery
    }

    private mutating func apply(_ decoded: SpoolRecord.Decoded, file: SegmentFile, finished: inout Set<MID>) {
        switch decoded {
        case .message(let envelope, let pending, let bodyOffset, let bodyLength):
            maxMID = max(maxMID, envelope.mid)
            // A message finished earlier in the journal never comes back through a copy.
            guard !finished.contains(envelope.mid) else { return }
            let rids = SpoolIndex.normalized(pending, count: envelope.recipients.count)
            index.applyMessage(envelope, pending: rids, file: file, bodyOffset: bodyOffset, bodyLength: bodyLength,
                               isCopy: false)
            if index.messages[envelope.mid] == nil { finished.insert(envelope.mid) }
        case .outcome(let mid, _, let recipients):
            if index.applyOutcome(mid: mid, recipients: recipients) { finished.insert(mid) }
        case .replace(let original, let parts):
            // A replace only ever follows its original in the journal; if the original is
            // already finished (or was never seen), its parts still stand on their own.
            for part in parts { maxMID = max(maxMID, part.envelope.mid) }
            let fresh = parts.filter { $0.envelope.mid == original || !finished.contains($0.envelope.mid) }
            index.applyReplace(original: original, parts: fresh.map {
                (envelope: $0.envelope, file: file, bodyOffset: $0.bodyOffset, bodyLength: $0.bodyLength)
            })
            if index.messages[original] == nil { finished.insert(original) }
        }
    }

    /// Whether any valid record starts after `offset` (distinguishes a torn tail from corruption).
    static func hasValidRecord(in contents: ByteBuffer, after offset: Int) -> Bool {
        let magic = SpoolRecord.magic
        var position = offset + 1
        let limit = contents.writerIndex - SpoolRecord.headerSize
        while position <= limit {
            if contents.getInteger(at: position, as: UInt32.self) == magic,
               case .valid = SpoolRecord.check(contents, at: position) {
                return true
            }
            position += 1
        }
        return false
    }
}
