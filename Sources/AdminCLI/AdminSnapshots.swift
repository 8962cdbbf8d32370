import Foundation

/// One delivery queue as `tophosts` and `hoststatus` show it: the destination's name
/// (`smarthost`, `the.cpq.host`, `the.cpq.release.host`), where it delivers, and its
/// counters and gauges since the role started.
public struct HostQueueStatus: Hashable, Sendable, Codable {
    /// The queue name admins type: `the.cpq.host`.
    public var name: String
    /// Where it delivers, `HOST:PORT`.
    public var address: String
    /// More about this queue, e.g. `gateway gw1` for one of the manager's release queues.
    public var note: String?
    public var activeRecipients: Int
    public var activeMessages: Int
    public var connectionsOut: Int
    public var deliveredRecipients: Int
    public var softBouncedRecipients: Int
    public var hardBouncedRecipients: Int
    /// Marked down after repeated connection failures (`*` in `tophosts`).
    public var isDown: Bool
    /// Delivery paused by `suspend`.
    public var isPaused: Bool
    /// When the oldest queued message arrived.
    public var oldest: Date?

    public init(name: String, address: String, note: String? = nil, activeRecipients: Int = 0, activeMessages: Int = 0,
                connectionsOut: Int = 0, deliveredRecipients: Int = 0, softBouncedRecipients: Int = 0,
                hardBouncedRecipients: Int = 0, isDown: Bool = false, isPaused: Bool = false, oldest: Date? = nil) {
        self.name = name
        self.address = address
        self.note = note
        self.activeRecipients = activeRecipients
        self.activeMessages = activeMessages
        self.connectionsOut = connectionsOut
        self.deliveredRecipients = deliveredRecipients
        self.softBouncedRecipients = softBouncedRecipients
        self.hardBouncedRecipients = hardBouncedRecipients
        self.isDown = isDown
        self.isPaused = isPaused
        self.oldest = oldest
    }
}

/// A message waiting on a delivery queue, with the recipients still to deliver
/// (`showrecipients`).
public struct QueuedMessageInfo: Hashable, Sendable {
    public var mid: UInt64
    /// The queue it waits on.
    public var host: String
    /// The envelope sender; empty for the null sender.
    public var sender: String
    public var recipients: [String]
    public var size: Int
    public var received: Date
    /// More about it, e.g. `release R-1 of QID Q…` on the manager.
    public var note: String?

    public init(mid: UInt64, host: String, sender: String, recipients: [String], size: Int, received: Date, note: String? = nil) {
        self.mid = mid
        self.host = host
        self.sender = sender
        self.recipients = recipients
        self.size = size
        self.received = received
        self.note = note
    }
}

/// What `deleterecipients` removed from one queue.
public struct DeletedRecipients: Hashable, Sendable {
    public var host: String
    public var messages: Int
    public var recipients: Int

    public init(host: String, messages: Int, recipients: Int) {
        self.host = host
        self.messages = messages
        self.recipients = recipients
    }
}

/// A listener as `listenerconfig` and `interfaceconfig` show it.
public struct ListenerInfo: Hashable, Sendable, Codable {
    /// How a listener speaks: `smtp` (mail in), `cpq` (the quarantine link), `http` (web UI/API).
    public enum Kind: String, Hashable, Sendable, Codable {
        case smtp, cpq, http
    }

    public var name: String
    public var kind: Kind
    /// The interface name, e.g. `Management`.
    public var interface: String
    public var address: String
    /// The port it is bound to (the real one when the configuration said 0).
    public var port: Int
    /// `public`/`private` for SMTP listeners; a short description otherwise.
    public var type: String
    public var maxConnections: Int?
    /// The host access table in its text form (SMTP and CPQ listeners).
    public var hat: String?
    /// The recipient access table in its text form (SMTP listeners).
    public var rat: String?
    /// False for listeners that cannot be suspended from the CLI (the web UI).
    public var canSuspend: Bool

    public init(name: String, kind: Kind, interface: String, address: String, port: Int, type: String,
                maxConnections: Int? = nil, hat: String? = nil, rat: String? = nil, canSuspend: Bool = true) {
        self.name = name
        self.kind = kind
        self.interface = interface
        self.address = address
        self.port = port
        self.type = type
        self.maxConnections = maxConnections
        self.hat = hat
        self.rat = rat
        self.canSuspend = canSuspend
    }
}

/// A named local address (`interfaceconfig`).
public struct InterfaceInfo: Hashable, Sendable, Codable {
    public var name: String
    public var address: String

    public init(name: String, address: String) {
        self.name = name
        self.address = address
    }
}

/// One counter of `status`, e.g. `Received 12`.
public struct StatusCounter: Hashable, Sendable {
    public var name: String
    public var value: Int

    public init(_ name: String, _ value: Int) {
        self.name = name
        self.value = value
    }
}

/// The version `version` prints.
public enum LazaretVersion {
    public static let current = "0.1.0"
}
