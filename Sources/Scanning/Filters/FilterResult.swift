/// What the message filters decided for one message: `FilterSet.evaluate(_:)`.
///
/// The pipeline acts on it after the filters ran: a `final` action ends the
/// message's way through the pipeline; otherwise it applies `headerStrips`
/// to the received headers, appends `headerInsertions`, adds
/// `alternateRecipients`, sends `notifications`, writes `logEntries`, stores
/// `duplicateQuarantines` copies and hands the message to each of
/// `quarantines` (or on to the next stage when there are none).
public struct FilterResult: Hashable, Sendable {
    /// A quarantine the message goes to, and the filter that sent it there (the reason).
    public struct QuarantineFlag: Hashable, Sendable {
        /// The quarantine's name, e.g. `Policy`.
        public var name: String
        /// The name of the filter whose action flagged it.
        public var filter: String

        /// A flag for quarantine `name`, set by filter `filter`.
        public init(name: String, filter: String) {
            self.name = name
            self.filter = filter
        }
    }

    /// An action that ends the message's way: nothing is delivered or quarantined.
    public enum FinalAction: Hashable, Sendable {
        /// `drop()`: discard the message silently.
        case drop(filter: String)
        /// `bounce()`: return the message to its sender with a DSN.
        case bounce(filter: String)

        /// The filter that took the action.
        public var filter: String {
            switch self {
            case .drop(let filter), .bounce(let filter): filter
            }
        }
    }

    /// A notification message to send (`notify(...)`).
    public struct Notification: Hashable, Sendable {
        /// Who gets it.
        public var recipient: String
        /// Its subject, or nil for the default one.
        public var subject: String?
        /// The filter that asked for it.
        public var filter: String

        /// A notification to `recipient`, asked for by filter `filter`.
        public init(recipient: String, subject: String?, filter: String) {
            self.recipient = recipient
            self.subject = subject
            self.filter = filter
        }
    }

    /// A line for mail_logs (`log-entry(...)`).
    public struct LogEntry: Hashable, Sendable {
        /// The text as written in the filter.
        public var text: String
        /// The filter that wrote it.
        public var filter: String

        /// A log line written by filter `filter`.
        public init(text: String, filter: String) {
            self.text = text
            self.filter = filter
        }
    }

    /// Quarantines the message is held in, one flag per quarantine name, in the
    /// order they were flagged; the reason is the first filter that flagged it.
    /// Empty when `final` is set.
    public var quarantines: [QuarantineFlag] = []
    /// Quarantines that get a copy while the message itself goes on (`duplicate-quarantine`),
    /// one per name, first filter kept. Kept even when `final` is set: the copies exist.
    public var duplicateQuarantines: [QuarantineFlag] = []
    /// `drop()` or `bounce()`, when a filter took one.
    public var final: FinalAction?
    /// The filter whose `deliver()` or `skip-filters()` stopped the evaluation of later filters.
    public var stoppedBy: String?
    /// Header fields to append, in order. A later `strip-header` of the same name removed
    /// earlier insertions, so applying strips first and then insertions gives the order written.
    public var headerInsertions: [MessageFacts.Header] = []
    /// Names of header fields to remove from the received headers (each name once, compared ignoring case).
    public var headerStrips: [String] = []
    /// Recipients to use instead of the envelope recipients (`alt-rcpt-to`), each once, in order.
    public var alternateRecipients: [String] = []
    /// Notifications to send, in order.
    public var notifications: [Notification] = []
    /// Lines for mail_logs, in order.
    public var logEntries: [LogEntry] = []
    /// Names of the filters whose condition was true, in order (only filters that were evaluated).
    public var matched: [String] = []

    /// A result; the default is "no filter did anything".
    public init(
        quarantines: [QuarantineFlag] = [],
        duplicateQuarantines: [QuarantineFlag] = [],
        final: FinalAction? = nil,
        stoppedBy: String? = nil,
        headerInsertions: [MessageFacts.Header] = [],
        headerStrips: [String] = [],
        alternateRecipients: [String] = [],
        notifications: [Notification] = [],
        logEntries: [LogEntry] = [],
        matched: [String] = []
    ) {
        self.quarantines = quarantines
        self.duplicateQuarantines = duplicateQuarantines
        self.final = final
        self.stoppedBy = stoppedBy
        self.headerInsertions = headerInsertions
        self.headerStrips = headerStrips
        self.alternateRecipients = alternateRecipients
        self.notifications = notifications
        self.logEntries = logEntries
        self.matched = matched
    }
}
