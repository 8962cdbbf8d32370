/// An error of the quarantine store. `code` says what kind (errors compare by code);
/// `message` says what happened and what to do.
public struct QuarantineStoreError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The store directory or database could not be created or opened.
        public static let open = Code(name: "open")
        /// Another process (or another `QuarantineStore` in this process) holds the directory.
        public static let locked = Code(name: "locked")
        /// A transfer from a gateway is not acceptable (empty quarantine name, too many holds...);
        /// nothing was stored. The CPQ listener answers it with a permanent error.
        public static let invalidTransfer = Code(name: "invalidTransfer")
        /// An argument of a call is not acceptable (empty user name, bad cursor, limit out of range).
        public static let invalidArgument = Code(name: "invalidArgument")
        /// No message has this QID.
        public static let notFound = Code(name: "notFound")
        /// The message was deleted from a quarantine: it is never released.
        public static let deleted = Code(name: "deleted")
        /// The message is not held in a quarantine the call named.
        public static let notHeld = Code(name: "notHeld")
        /// The message was already released for delivery; it can no longer be deleted.
        public static let released = Code(name: "released")
        /// The message body is no longer stored (removed after delete or delivery).
        public static let bodyRemoved = Code(name: "bodyRemoved")
        /// No release has this release id.
        public static let releaseNotFound = Code(name: "releaseNotFound")
        /// The release is in a state that does not allow the change (a failed release is
        /// never accepted, an accepted one never fails).
        public static let releaseState = Code(name: "releaseState")
        /// The store is at its quota (`QuarantineStoreOptions.quotaBytes`): nothing was
        /// stored; the CPQ listener answers 452 and the gateway keeps the message queued.
        public static let full = Code(name: "full")
        /// No quarantine of that name is defined, or a definition is not acceptable.
        public static let quarantine = Code(name: "quarantine")
        /// SQLite failed (disk full, I/O error, closed store). Nothing of the call was committed,
        /// unless the failure came after the commit reached the disk (a retried transfer is
        /// then recognised as a duplicate).
        public static let storage = Code(name: "storage")
        public var description: String { name }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "quarantine store \(code): \(message)" }

    public static func == (lhs: QuarantineStoreError, rhs: QuarantineStoreError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    /// `error` as a store error: store errors as they are, anything else (SQLite, file system)
    /// as `.storage` naming what was being done.
    static func wrap(_ error: any Error, _ doing: String) -> QuarantineStoreError {
        if let error = error as? QuarantineStoreError { return error }
        return QuarantineStoreError(.storage, "\(doing) failed: \(error)")
    }
}
