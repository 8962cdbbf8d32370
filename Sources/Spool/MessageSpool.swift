import NIOCore

/// Message id: unique for the life of the spool, never reused after a restart.
public typealias MID = UInt64

/// The durable record of one accepted message: who sent it, to whom, from where.
/// A recipient's RID is its index in `recipients`.
public struct MessageEnvelope: Sendable, Hashable, Codable {
    public var mid: MID
    /// The inbound connection that brought the message (0 for generated mail such as DSNs).
    public var icid: UInt64
    /// Listener name (`IncomingMail`), or `internal` for generated mail.
    public var listener: String
    public var remoteAddress: String
    public var heloName: String
    /// Reverse path without brackets; empty for the null sender.
    public var mailFrom: String
    public var recipients: [String]
    /// Seconds since 1970 when the message was accepted.
    public var receivedAt: Double
    /// The delivery queue the message goes to (`smarthost`, later `the.cpq.host`...).
    public var destination: String
    /// Octets of the stored body.
    public var size: Int
    /// What later stages need to know about the message, kept with it on disk: the
    /// sender group, MAIL parameters, the next pipeline stage, quarantine tickets...
    /// The spool does not interpret them; each key is owned by the module that writes it.
    public var attributes: [String: String]

    public init(mid: MID, icid: UInt64, listener: String, remoteAddress: String, heloName: String,
                mailFrom: String, recipients: [String], receivedAt: Double, destination: String, size: Int,
                attributes: [String: String] = [:]) {
        self.attributes = attributes
        self.mid = mid
        self.icid = icid
        self.listener = listener
        self.remoteAddress = remoteAddress
        self.heloName = heloName
        self.mailFrom = mailFrom
        self.recipients = recipients
        self.receivedAt = receivedAt
        self.destination = destination
        self.size = size
    }
}

extension MessageEnvelope {
    /// Attribute set when the client asked for SMTPUTF8 (RFC 6531): the message may
    /// carry UTF-8 addresses and headers, and must go out only to a host that offers it.
    public static let smtpUTF8Attribute = "smtputf8"
    /// Attribute with the MAIL `BODY=` value the client gave (`7BIT`, `8BITMIME`).
    public static let bodyTypeAttribute = "body"

    /// Whether the message must be sent with `SMTPUTF8`.
    public var requiresSMTPUTF8: Bool { attributes[Self.smtpUTF8Attribute] == "yes" }

    /// The envelope attributes for the MAIL parameters of an inbound transaction.
    public static func attributes(forMailParameters parameters: [String: String]) -> [String: String] {
        var attributes: [String: String] = [:]
        if parameters["SMTPUTF8"] != nil { attributes[smtpUTF8Attribute] = "yes" }
        if let body = parameters["BODY"] { attributes[bodyTypeAttribute] = body.uppercased() }
        return attributes
    }
}

/// What finally happened to one recipient; once recorded it is never retried.
public enum RecipientOutcome: UInt8, Sendable, Hashable, Codable {
    /// The next hop answered 250.
    case delivered = 1
    /// The next hop refused it permanently (a DSN went to the sender).
    case bounced = 2
    /// It stayed in the queue longer than the maximum lifetime (a DSN went to the sender).
    case expired = 3
    /// An administrator removed it (`deleterecipients`).
    case deleted = 4
}

/// A message found in the spool with recipients still to deliver.
public struct SpooledMessage: Sendable, Hashable {
    public var envelope: MessageEnvelope
    /// RIDs without an outcome yet, ascending.
    public var pendingRecipients: [Int]

    public init(envelope: MessageEnvelope, pendingRecipients: [Int]) {
        self.envelope = envelope
        self.pendingRecipients = pendingRecipients
    }
}

/// The durable store that listeners write to and delivery queues read from.
/// `Spool` is the real one; unit tests of a queue may use a fake.
public protocol MessageSpool: AnyObject, Sendable {
    /// Allocates the next MID (unique across restarts).
    func nextMID() -> MID
    /// Allocates the next inbound connection id.
    func nextICID() -> UInt64
    /// Allocates the next outbound connection id.
    func nextDCID() -> UInt64
    /// Writes envelope and body; returns only once both are fsynced.
    func store(_ envelope: MessageEnvelope, body: ByteBuffer) async throws
    /// Reads the stored body of a message that has pending recipients.
    func body(of mid: MID) async throws -> ByteBuffer
    /// Records a final outcome for some recipients; returns once it is durable.
    /// When every recipient of a message has an outcome the message is finished
    /// and its space can be reclaimed.
    func record(_ outcome: RecipientOutcome, mid: MID, recipients: [Int]) async throws
}
