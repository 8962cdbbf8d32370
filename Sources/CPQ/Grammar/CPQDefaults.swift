/// The named limits of CPQ version 1 (docs/CPQ.md, "Value syntax").
public enum CPQDefaults {
    /// The extension verb.
    public static let verb = "XCPQ"
    /// The protocol versions this implementation speaks, announced as `XCPQ 1`.
    public static let versions = [1]
    /// A whole command line, CRLF included (RFC 5321 §4.5.3.1.4).
    public static let maxLineLength = 512
    /// Transfer, release and queue ids, gateway names, QIDs: `[A-Za-z0-9._-]`.
    public static let maxIdentifierLength = 64
    /// Quarantine names: letters, digits, `-`, `_`, space.
    public static let maxQuarantineNameLength = 64
    /// `DETAIL` and `REPLY`, decoded octets (UTF-8).
    public static let maxTextLength = 512
    /// `RCPT` of a report, decoded octets (RFC 5321 §4.5.3.1.3: a path is at most 256).
    public static let maxRecipientLength = 256
    /// `XCPQ HOLD` lines per transfer; also the most names in `QUARANTINES`.
    public static let maxHolds = 16
    /// Recipients per transfer or release (`452 4.5.3` beyond).
    public static let maxRecipients = 1000
    /// `RETENTION` at most 10 years of 365.25 days.
    public static let maxRetentionSeconds = 315_576_000
    /// `LEVEL`, the outbreak threat level.
    public static let threatLevels = 1...5
    /// `MID`, `ICID` and `RECEIVED` are below 2^63.
    public static let maxNumber = UInt64(Int64.max)
    /// Longest key accepted (`QUARANTINES` is the longest we define).
    static let maxKeyLength = 32
}
