import Foundation
import MailLog
import NIOCore
import SMTPProtocol
import Spool

/// What every session of one listener shares: its tables, the spool, the log.
final class ListenerContext: Sendable {
    let listener: GatewayConfiguration.Listener
    let interfaceName: String
    let hostname: String
    let hat: HostAccessTable
    let rat: RecipientAccessTable
    let spool: Spool
    let log: MailLog
    let rates: RateLimiter
    let reverseDNS: ReverseDNS
    let router: MessageRouter

    init(listener: GatewayConfiguration.Listener, interfaceName: String, hostname: String, hat: HostAccessTable, rat: RecipientAccessTable,
         spool: Spool, log: MailLog, rates: RateLimiter, reverseDNS: ReverseDNS, router: MessageRouter) {
        self.listener = listener
        self.interfaceName = interfaceName
        self.hostname = hostname
        self.hat = hat
        self.rat = rat
        self.spool = spool
        self.log = log
        self.rates = rates
        self.reverseDNS = reverseDNS
        self.router = router
    }
}

/// The policy side of one inbound SMTP connection: HAT at connect, RAT at
/// RCPT, the spool at end of DATA, and the mail_logs lines admins grep for.
/// Lives on the connection's event loop.
final class ListenerSession: SMTPServerDelegate {
    private let context: ListenerContext
    private let icid: UInt64
    private var remoteAddress = ""
    private var remoteHost = "unknown"
    private var decision: HostAccessDecision?
    private var relay = false
    private var mid: MID?
    private var rids = 0
    private var holdsConnectionSlot = false
    /// The connection is gone: a late decision must not take a slot.
    private var isClosed = false

    init(context: ListenerContext) {
        self.context = context
        self.icid = context.spool.nextICID()
    }

    private var log: MailLog { context.log }

    func connectionOpened(_ info: SMTPConnectionInfo, eventLoop: EventLoop) -> EventLoopFuture<SMTPConnectionDecision> {
        remoteAddress = info.remoteAddress
        return context.reverseDNS.lookup(info.remoteAddress, eventLoop: eventLoop).assumeIsolated().map { dns in
            // The client may hang up while its name is looked up: then take no
            // per-IP connection slot, since connectionClosed has already run.
            guard !self.isClosed else { return .refuse }
            self.remoteHost = dns.hostname ?? "unknown"
            self.log.info("New SMTP ICID \(self.icid) interface \(self.context.interfaceName) (\(info.localAddress)) address \(info.remoteAddress) reverse dns host \(dns.hostname ?? "unknown") verified \(dns.verified ? "yes" : "no")")
            let decision = self.context.hat.evaluate(address: info.remoteAddress, reverseDNS: dns.hostname, verified: dns.verified)
            self.decision = decision
            let group = decision.senderGroup ?? "ALL"
            let why = decision.matchedMember.map { " match \($0)" } ?? ""
            switch decision.behaviour {
            case .tcpRefuse:
                self.log.info("ICID \(self.icid) TCPREFUSE SG \(group)\(why)")
                return .refuse
            case .reject:
                self.log.info("ICID \(self.icid) REJECT SG \(group)\(why)")
                return .reject(decision.rejectReply)
            case .accept, .relay, .continue:
                // (.continue never reaches here: the HAT resolves it.)
                if let limit = decision.maxConnectionsPerIP {
                    guard self.context.rates.acquireConnection(from: info.remoteAddress, limit: limit) else {
                        self.log.info("ICID \(self.icid) REJECT SG \(group)\(why): too many connections from \(info.remoteAddress) (limit \(limit))")
                        return .reject(RateLimiter.connectionLimitReply)
                    }
                    self.holdsConnectionSlot = true
                }
                self.relay = decision.behaviour == .relay
                self.log.info("ICID \(self.icid) \(self.relay ? "RELAY" : "ACCEPT") SG \(group)\(why)")
                let banner = decision.parameters.bannerText ?? "ESMTP Lazaret"
                return .accept(decision.sessionPolicy, greeting: banner)
            }
        }.nonisolated()
    }

    func tlsEstablished(protocolVersion: String, cipher: String) {
        log.info("ICID \(icid) TLS success protocol \(protocolVersion) cipher \(cipher)")
    }

    func mailFrom(_ transaction: SMTPTransaction, eventLoop: EventLoop) -> EventLoopFuture<SMTPReply> {
        let mid = context.spool.nextMID()
        self.mid = mid
        self.rids = 0
        log.info("Start MID \(mid) ICID \(icid)")
        log.info("MID \(mid) ICID \(icid) From: <\(transaction.mailFrom)>")
        return eventLoop.makeSucceededFuture(SMTPReply(250, EnhancedStatusCode(2, 1, 0), "Sender <\(transaction.mailFrom)> ok"))
    }

    func rcptTo(_ recipient: String, transaction: SMTPTransaction, eventLoop: EventLoop) -> EventLoopFuture<SMTPReply> {
        let mid = self.mid ?? 0
        if !relay {
            let verdict = context.rat.evaluate(recipient: recipient)
            if verdict.action == .reject {
                let reply = verdict.reply
                log.info("MID \(mid) ICID \(icid) To: <\(recipient)> Rejected by Receiving Control (RAT)")
                return eventLoop.makeSucceededFuture(reply)
            }
        }
        if let perHour = decision?.maxRecipientsPerHour,
           !context.rates.admitRecipients(from: remoteAddress, limit: perHour) {
            log.info("MID \(mid) ICID \(icid) To: <\(recipient)> Rejected: rate limit \(perHour) recipients per hour exceeded for \(remoteAddress)")
            return eventLoop.makeSucceededFuture(RateLimiter.recipientLimitReply)
        }
        log.info("MID \(mid) ICID \(icid) RID \(rids) To: <\(recipient)>")
        rids += 1
        return eventLoop.makeSucceededFuture(SMTPReply(250, EnhancedStatusCode(2, 1, 5), "Recipient <\(recipient)> ok"))
    }

    func messageReceived(_ transaction: SMTPTransaction, body: ByteBuffer, eventLoop: EventLoop) -> EventLoopFuture<SMTPReply> {
        let mid = self.mid ?? context.spool.nextMID()
        self.mid = nil
        let summary = HeaderSummary(body)
        if let id = summary.messageID { log.info("MID \(mid) Message-ID '\(id)'") }
        log.info("MID \(mid) Subject '\(summary.subject ?? "")'")
        var stored = ByteBufferAllocator().buffer(capacity: body.readableBytes + 256)
        stored.writeString(receivedHeader(mid: mid, transaction: transaction))
        var copy = body
        stored.writeBuffer(&copy)
        let envelope = MessageEnvelope(
            mid: mid, icid: icid, listener: context.listener.name, remoteAddress: remoteAddress,
            heloName: transaction.heloName, mailFrom: transaction.mailFrom, recipients: transaction.recipients,
            receivedAt: Date().timeIntervalSince1970, destination: context.router.defaultDestination,
            size: stored.readableBytes,
            attributes: EnvelopeAttribute.forNewMessage(senderGroup: decision?.senderGroup)
                .merging(MessageEnvelope.attributes(forMailParameters: transaction.mailParameters)) { a, _ in a })
        let promise = eventLoop.makePromise(of: SMTPReply.self)
        let context = self.context
        let icid = self.icid
        let storedBody = stored
        promise.completeWithTask {
            do {
                try await context.spool.store(envelope, body: storedBody)
            } catch {
                context.log.critical("MID \(mid) ICID \(icid) could not be written to the spool: \(error)")
                return SMTPReply(451, EnhancedStatusCode(4, 3, 0), "Local error: message not stored, try again later")
            }
            context.log.info("MID \(mid) ready \(envelope.size) bytes from <\(envelope.mailFrom)>")
            context.router.intake.withLockedValue { $0.received += 1 }
            await context.router.route(SpooledMessage(envelope: envelope, pendingRecipients: Array(envelope.recipients.indices)))
            return SMTPReply(250, EnhancedStatusCode(2, 0, 0), "Ok: queued as MID \(mid)")
        }
        return promise.futureResult
    }

    func transactionAborted(_ transaction: SMTPTransaction) {
        if let mid {
            log.info("MID \(mid) ICID \(icid) aborted: transaction ended without a message")
            self.mid = nil
        }
    }

    func connectionClosed(reason: String) {
        isClosed = true
        if holdsConnectionSlot {
            holdsConnectionSlot = false
            context.rates.releaseConnection(from: remoteAddress)
        }
        log.info("ICID \(icid) close")
    }

    /// RFC 5321 §4.4 trace header. The HELO name reached us without CR/LF/NUL
    /// (the protocol layer refuses those), so it is safe to copy.
    private func receivedHeader(mid: MID, transaction: SMTPTransaction) -> String {
        let with = transaction.tls ? "ESMTPS" : "ESMTP"
        let helo = transaction.heloName.isEmpty ? "unknown" : transaction.heloName
        return "Received: from \(helo) (\(remoteHost) [\(remoteAddress)])\r\n\tby \(context.hostname) (Lazaret) with \(with) id \(mid)\r\n\tfor <\(transaction.recipients.first ?? "")>; \(RFC5322Date.now())\r\n"
    }
}
