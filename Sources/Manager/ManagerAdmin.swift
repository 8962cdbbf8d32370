import AdminCLI
import Foundation
import MailLog
import NIOConcurrencyHelpers
import QuarantineStore
import SMTPProtocol
import Spool

/// The manager seen by the mail commands (`status`, `tophosts`, `suspend`...): its
/// release queues (`the.cpq.release.host`, one per gateway cpq_listener), its listeners
/// (the cpq_listener, which can be suspended, and the web UI/API, which cannot), and the
/// quarantine store's counts. `deleterecipients` here takes pending releases off the
/// queue: the messages stay in the store, their releases marked failed.
final class ManagerAdmin: MailAdminSystem {
    let roleName = "manager"
    let hostname: String
    let startedAt = Date()
    let mailLogPath: String
    let suspension = SuspensionBook()
    let deletionNote: String? = "The messages stay quarantined: only their pending releases were deleted (recorded as failed, \"deleted from the.cpq.release.host by an administrator\"), and each message is held again in the quarantines it was released from until its retention ends (mail_logs names them). Release it again from the web UI or the API to send it."
    /// The cpq_listener's gate.
    let cpqGate: SMTPListenerGate

    private let configuration: ManagerConfiguration
    private let store: QuarantineStore
    private let releases: ReleaseQueue
    private let log: MailLog
    private let ports = NIOLockedValueBox<(cpq: Int, web: Int?)>((0, nil))

    init(configuration: ManagerConfiguration, store: QuarantineStore, releases: ReleaseQueue, log: MailLog, mailLogPath: String,
         cpqGate: SMTPListenerGate) {
        self.cpqGate = cpqGate
        self.configuration = configuration
        self.hostname = configuration.hostname
        self.store = store
        self.releases = releases
        self.log = log
        self.mailLogPath = mailLogPath
        ports.withLockedValue { $0.cpq = configuration.listenerPort }
    }

    /// The ports the listeners are bound to (the web port once it runs).
    func setPorts(cpq: Int, web: Int?) {
        ports.withLockedValue { $0 = (cpq, web) }
    }

    // MARK: MailAdminSystem

    func counters() async -> [StatusCounter] {
        let received = await store.ingestStatistics().transfers
        let held = ((try? await store.counts()) ?? [:]).values.reduce(0, +)
        var delivered = 0
        var bounced = 0
        for (_, queue) in releases.gatewayQueues() {
            let status = await queue.status
            delivered += status.deliveredRecipients
            bounced += status.hardBouncedRecipients
        }
        return [StatusCounter("Received transfers", received),
                StatusCounter("Delivered recipients", delivered),
                StatusCounter("Quarantined (held now)", held),
                StatusCounter("Released (queued)", releases.queuedCount.withLockedValue { $0 }),
                StatusCounter("Hard bounced recipients", bounced)]
    }

    func hostStatuses() async -> [HostQueueStatus] {
        var result: [HostQueueStatus] = []
        for (gateway, queue) in releases.gatewayQueues() {
            let status = await queue.status
            result.append(HostQueueStatus(
                name: status.destination.name, address: releases.routeDescription(for: gateway), note: "gateway \(gateway)",
                activeRecipients: status.activeRecipients, activeMessages: status.activeMessages, connectionsOut: status.connectionsOut,
                deliveredRecipients: status.deliveredRecipients, softBouncedRecipients: status.softBouncedRecipients,
                hardBouncedRecipients: status.hardBouncedRecipients, isDown: status.isDown, isPaused: status.isPaused,
                oldest: status.oldestReceivedAt.map(Date.init(timeIntervalSince1970:))))
        }
        if result.isEmpty {
            result.append(HostQueueStatus(name: ReleaseQueue.destinationName, address: "-", note: "no release queued since start",
                                          isPaused: suspension.state.system))
        }
        return result
    }

    func queuedMessages() async -> [QueuedMessageInfo] {
        var result: [QueuedMessageInfo] = []
        for (gateway, queue) in releases.gatewayQueues() {
            for message in await queue.queuedMessages {
                let envelope = message.envelope
                let attributes = envelope.attributes
                let recipients = message.pendingRecipients.compactMap { envelope.recipients.indices.contains($0) ? envelope.recipients[$0] : nil }
                result.append(QueuedMessageInfo(
                    mid: envelope.mid, host: queue.destination.name, sender: envelope.mailFrom, recipients: recipients, size: envelope.size,
                    received: Date(timeIntervalSince1970: envelope.receivedAt),
                    note: "gateway \(gateway), QID \(attributes[ReleaseQueue.Attribute.qid] ?? "?"), release \(attributes[ReleaseQueue.Attribute.releaseID] ?? "?")"))
            }
        }
        return result
    }

    func deleteRecipients(_ selection: RecipientSelection) async -> [DeletedRecipients] {
        var removed = (messages: 0, recipients: 0)
        for (_, queue) in releases.gatewayQueues() {
            let host = queue.destination.name
            removed.messages += await queue.queuedMessages.filter { selection.matches(host: host, sender: $0.envelope.mailFrom) }.count
            removed.recipients += await queue.deleteAll { selection.matches(host: host, sender: $0.mailFrom) }
        }
        return removed.recipients == 0 ? [] : [DeletedRecipients(host: ReleaseQueue.destinationName, messages: removed.messages,
                                                                 recipients: removed.recipients)]
    }

    func deliverNow(host: String?) async -> [String] {
        guard host == nil || host!.lowercased() == ReleaseQueue.destinationName else { return [] }
        for (_, queue) in releases.gatewayQueues() { await queue.deliverNow() }
        return [ReleaseQueue.destinationName]
    }

    func listeners() -> [ListenerInfo] {
        let (cpq, web) = ports.withLockedValue { $0 }
        var result = [ListenerInfo(name: "cpq_listener", kind: .cpq, interface: "Management", address: configuration.listenerAddress,
                                   port: cpq, type: "transfers from paired gateways, mutual TLS",
                                   maxConnections: configuration.maxConnections,
                                   hat: "RELAYLIST:\n  the paired gateways (lazaret manager gateways lists them)\n    ACCEPT\nALL\n  REJECT")]
        if let web {
            result.append(ListenerInfo(name: "web", kind: .http, interface: webInterfaceName, address: configuration.webAddress, port: web,
                                       type: "web UI and /api/v1", canSuspend: false))
        }
        return result
    }

    func interfaces() -> [InterfaceInfo] {
        var result = [InterfaceInfo(name: "Management", address: configuration.listenerAddress)]
        if webInterfaceName != "Management" { result.append(InterfaceInfo(name: webInterfaceName, address: configuration.webAddress)) }
        return result
    }

    private var webInterfaceName: String { configuration.webAddress == configuration.listenerAddress ? "Management" : "Web" }

    func apply(_ state: SuspensionState) async {
        if state.isRefusing("cpq_listener") {
            cpqGate.suspend(reply: SMTPListenerGate.suspendedReply(hostname: hostname, listener: "cpq_listener"))
        } else {
            cpqGate.resume()
        }
        await releases.setPaused(state.system)
    }

    func logInfo(_ line: String) { log.info(line) }

    // MARK: quarantineconfig

    /// `quarantineconfig`: the quarantines with retention, default action, free up space
    /// and how many messages each holds, and the store's usage.
    func quarantineconfig(_ args: [String], _ context: CommandContext) async -> ControlResponse {
        guard args.isEmpty else { return .failure("quarantineconfig takes no arguments; usage: quarantineconfig") }
        do {
            let definitions = try await store.quarantines()
            let counts = try await store.counts()
            let usage = try await store.usage()
            return .success(Self.quarantineTable(definitions, counts: counts, usage: usage))
        } catch let error as QuarantineStoreError {
            return .failure(error.message)
        } catch {
            return .failure("\(error)")
        }
    }

    static func quarantineTable(_ definitions: [QuarantineDefinition], counts: [String: Int], usage: StoreUsage) -> String {
        var table = TextTable(["Quarantine", "Type", "Retention", "Default Action", "Free Up Space", "Messages"])
        for definition in definitions {
            table.append([definition.name, definition.kind.rawValue, AdminTexts.duration(Double(definition.retentionSeconds)),
                          definition.defaultAction.rawValue, definition.freeUpSpace ? "yes" : "no", "\(counts[definition.name] ?? 0)"])
        }
        let quota = usage.quotaBytes.map { "of \($0) bytes (\(String(format: "%.1f", usage.percent))%)" } ?? "(no quota)"
        return "Currently configured quarantines:\n" + table.render()
            + "\nStore: \(usage.bodies) message bodies, \(usage.bodyBytes) bytes \(quota)"
    }
}
