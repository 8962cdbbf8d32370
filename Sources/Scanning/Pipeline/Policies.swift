import NIOCore

/// Anything that scans a whole message for viruses; `ClamdClient` is the real one.
public protocol AntivirusEngine: Sendable {
    func scan(_ message: ByteBuffer) async -> AntivirusVerdict
    /// Engine and signature version; a change triggers the outbreak rescan.
    func version() async throws -> String
}

extension ClamdClient: AntivirusEngine {}

/// What the anti-virus stage does with each kind of verdict.
public struct AntivirusPolicy: Sendable, Hashable {
    public enum Action: Sendable, Hashable, CustomStringConvertible {
        /// Hold it in the named quarantine.
        case quarantine(String)
        /// Throw it away (logged).
        case drop
        /// Deliver it with the verdict in `header` (`X-Lazaret-AV: infected Eicar-...`).
        case deliver
        /// Engine unavailable only: keep the message in the spool and scan it again later.
        case wait

        public var description: String {
            switch self {
            case .quarantine(let name): "quarantine(\(name))"
            case .drop: "drop"
            case .deliver: "deliver"
            case .wait: "wait"
            }
        }
    }

    public var infected: Action
    public var encrypted: Action
    public var unscannable: Action
    /// Never `deliver`: a message is never delivered unscanned.
    public var unavailable: Action
    /// The header `deliver` adds.
    public var header: String
    /// Messages larger than this are not sent to the engine: they are unscannable.
    public var maxScanBytes: Int
    /// How long a message waits before the next try when the engine was unavailable.
    public var retrySeconds: Int

    public init(infected: Action = .quarantine("Virus"), encrypted: Action = .deliver,
                unscannable: Action = .quarantine("Virus"), unavailable: Action = .wait,
                header: String = "X-Lazaret-AV", maxScanBytes: Int = 25 << 20, retrySeconds: Int = 60) {
        self.infected = infected
        self.encrypted = encrypted
        self.unscannable = unscannable
        self.unavailable = unavailable
        self.header = header
        self.maxScanBytes = maxScanBytes
        self.retrySeconds = retrySeconds
    }
}

/// The outbreak stage's threshold and the retention it gives by threat level.
public struct OutbreakPolicy: Sendable, Hashable {
    /// Messages matching a rule of this threat level or higher are quarantined.
    public var threshold: Int
    public var quarantine: String
    /// Seconds held in the Outbreak quarantine, by threat level 1-5.
    public var retentionSeconds: [Int: Int]

    public static let defaultRetention: [Int: Int] = [1: 3600, 2: 2 * 3600, 3: 6 * 3600, 4: 12 * 3600, 5: 24 * 3600]

    public init(threshold: Int = 3, quarantine: String = "Outbreak", retentionSeconds: [Int: Int] = OutbreakPolicy.defaultRetention) {
        self.threshold = threshold
        self.quarantine = quarantine
        self.retentionSeconds = retentionSeconds
    }
}

/// A mail policy: which senders/recipients it covers and which content filters,
/// anti-virus and outbreak filters apply to them. The first policy that matches
/// wins; the last one should match everything (`DEFAULT`).
public struct MailPolicy: Sendable {
    public var name: String
    /// Patterns on the envelope sender; empty = any sender.
    public var senders: [Pattern]
    /// Patterns on envelope recipients (any recipient matching is enough); empty = any.
    public var recipients: [Pattern]
    public var contentFilters: FilterSet
    public var antivirus: Bool
    public var outbreak: Bool

    public init(name: String, senders: [Pattern] = [], recipients: [Pattern] = [], contentFilters: FilterSet,
                antivirus: Bool = true, outbreak: Bool = true) {
        self.name = name
        self.senders = senders
        self.recipients = recipients
        self.contentFilters = contentFilters
        self.antivirus = antivirus
        self.outbreak = outbreak
    }

    public func matches(mailFrom: String, recipients list: [String]) -> Bool {
        (senders.isEmpty || senders.contains { $0.matches(mailFrom) })
            && (recipients.isEmpty || list.contains { address in recipients.contains { $0.matches(address) } })
    }
}
