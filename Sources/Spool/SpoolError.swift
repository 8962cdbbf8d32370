/// An error of the spool. `code` says what kind; `message` says what happened and what to do.
public struct SpoolError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// Opening or creating the spool directory or its files failed.
        public static let open = Code(name: "open")
        /// Another process (or another `Spool` in this process) holds the spool directory.
        public static let locked = Code(name: "locked")
        /// Writing the journal failed (disk full, I/O error); nothing was acknowledged.
        public static let write = Code(name: "write")
        /// A sync failed; the spool refuses all further writes until restarted.
        public static let sync = Code(name: "sync")
        /// Reading a stored body failed.
        public static let read = Code(name: "read")
        /// No message with pending recipients has this MID.
        public static let unknownMessage = Code(name: "unknownMessage")
        /// A journal record failed its checksum or is malformed (found during recovery).
        public static let corruptRecord = Code(name: "corruptRecord")
        /// The spool was closed.
        public static let closed = Code(name: "closed")
        /// The envelope or record is not acceptable (e.g. RID out of range).
        public static let invalidArgument = Code(name: "invalidArgument")
        public var description: String { name }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "spool \(code): \(message)" }

    public static func == (lhs: SpoolError, rhs: SpoolError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
