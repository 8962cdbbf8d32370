import Foundation

/// What a role shows and lets an admin change through the mail commands (`status`,
/// `tophosts`, `showrecipients`, `suspend`...): its queues, listeners, counters and
/// mail_logs. The gateway and the manager each have an adapter (`GatewayAdmin`,
/// `ManagerAdmin`); `MailAdminCommands` turns one into a `CommandTable`'s commands.
public protocol MailAdminSystem: Sendable {
    /// `gateway` or `manager`.
    var roleName: String { get }
    /// The host name in banners.
    var hostname: String { get }
    /// When the role started.
    var startedAt: Date { get }
    /// The mail_logs file.
    var mailLogPath: String { get }
    /// What the admin suspended; the commands change it, then call `apply`.
    var suspension: SuspensionBook { get }
    /// Said after `deleterecipients` (the manager: the messages stay quarantined).
    var deletionNote: String? { get }

    /// Received, delivered, quarantined, released, bounced, in that order.
    func counters() async -> [StatusCounter]
    /// Every delivery queue, including empty ones (`the.cpq.host`, `the.cpq.release.host`).
    func hostStatuses() async -> [HostQueueStatus]
    /// Every queued message with its pending recipients.
    func queuedMessages() async -> [QueuedMessageInfo]
    /// Deletes the selected queued recipients; one entry per queue that had some.
    func deleteRecipients(_ selection: RecipientSelection) async -> [DeletedRecipients]
    /// `delivernow`: retries the queue called `host` (every queue when nil) at once.
    /// Returns the queues it touched (empty when none is called `host`).
    func deliverNow(host: String?) async -> [String]
    /// The listeners, with the ports they are bound to.
    func listeners() -> [ListenerInfo]
    /// The interfaces listeners bind to.
    func interfaces() -> [InterfaceInfo]
    /// Puts `state` in force: listener gates and queue pauses.
    func apply(_ state: SuspensionState) async
    /// Writes an Info line to mail_logs.
    func logInfo(_ line: String)
}
