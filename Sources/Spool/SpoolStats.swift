/// A snapshot of the spool for `status`-style commands.
public struct SpoolStats: Sendable, Hashable {
    /// Messages with at least one recipient still to deliver.
    public var pendingMessages: Int
    /// Recipients still to deliver, over all messages.
    public var pendingRecipients: Int
    /// Journal segment files on disk.
    public var segments: Int
    /// Bytes of all journal segment files.
    public var bytesOnDisk: Int
    /// Syncs of the journal since the spool was opened (one per group commit).
    public var syncs: Int
    /// Group commits (batches) written since the spool was opened.
    public var batches: Int
    /// Records (messages and outcomes) written since the spool was opened.
    public var records: Int
    /// Messages copied forward by compaction since the spool was opened.
    public var compactedMessages: Int

    public init(pendingMessages: Int = 0, pendingRecipients: Int = 0, segments: Int = 0, bytesOnDisk: Int = 0,
                syncs: Int = 0, batches: Int = 0, records: Int = 0, compactedMessages: Int = 0) {
        self.pendingMessages = pendingMessages
        self.pendingRecipients = pendingRecipients
        self.segments = segments
        self.bytesOnDisk = bytesOnDisk
        self.syncs = syncs
        self.batches = batches
        self.records = records
        self.compactedMessages = compactedMessages
    }
}

/// A problem recovery found and worked around (the spool still opened).
public struct SpoolRecoveryIssue: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// An incomplete record at the end of the newest segment (a write cut short by a
        /// crash; never acknowledged). It was truncated away.
        case tornTail
        /// A bad record inside a segment; the rest of that segment was skipped.
        case corruption
    }
    public var kind: Kind
    /// The segment file's path.
    public var file: String
    /// Byte offset of the bad record in that file.
    public var offset: Int
    public var detail: String

    public var description: String {
        switch kind {
        case .tornTail:
            return "truncated an incomplete record at the end of \(file) at offset \(offset) (\(detail)); it was never acknowledged, nothing was lost"
        case .corruption:
            return "corrupt record in \(file) at offset \(offset) (\(detail)); the rest of that segment was skipped. Messages stored after this offset in that file are not recovered; the file is kept (renamed damaged-segment-….log once the spool no longer needs it) for inspection: check the disk"
        }
    }
}
