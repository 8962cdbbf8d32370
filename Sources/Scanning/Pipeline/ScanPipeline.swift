import Crypto
import MailMessage
import NIOCore

/// One message as the pipeline sees it: the envelope facts and the stored body.
public struct ScanInput: Sendable {
    public var mailFrom: String
    public var recipients: [String]
    public var remoteIP: String
    public var senderGroup: String?
    public var listener: String
    public var body: ByteBuffer

    public init(mailFrom: String, recipients: [String], remoteIP: String, senderGroup: String?, listener: String, body: ByteBuffer) {
        self.mailFrom = mailFrom
        self.recipients = recipients
        self.remoteIP = remoteIP
        self.senderGroup = senderGroup
        self.listener = listener
        self.body = body
    }
}

/// What the pipeline decided for one message.
public struct ScanOutcome: Sendable {
    public enum Disposition: Sendable, Hashable {
        /// Through every stage: deliver (to `recipients`, with `body`).
        case deliver
        /// Held: one ticket per quarantine; the pipeline stopped at the tickets' stage.
        case quarantine([QuarantineTicket])
        /// Thrown away; the reason as mail_logs shows it.
        case drop(reason: String)
        /// Refused: a DSN goes to the sender.
        case bounce(reason: String)
        /// No verdict yet (engine unavailable, policy `wait`): run again from `stage` later.
        case retry(from: PipelineStage, reason: String)
    }

    public var disposition: Disposition
    /// The body after header edits (the input body when nothing changed).
    public var body: ByteBuffer
    /// The recipients after `alt-rcpt-to` (the input recipients when nothing changed).
    public var recipients: [String]
    /// Whether body or recipients differ from the input.
    public var changed: Bool
    /// `duplicate-quarantine` copies: each goes to its quarantine, the message goes on.
    public var copies: [QuarantineTicket]
    /// `notify` actions that matched.
    public var notifications: [FilterResult.Notification]
    /// The mail_logs lines, without the `MID n ` prefix, in order.
    public var events: [String]
    /// Time spent in each stage that ran.
    public var timings: [(stage: PipelineStage, duration: Duration)]
    /// The mail policy that applied (content filters, anti-virus, outbreak).
    public var policy: String
}

/// The gateway's pipeline: message filters → anti-virus → content filters (per mail
/// policy) → outbreak filters. A value: reloading the configuration builds a new one.
public struct ScanPipeline: Sendable {
    public var messageFilters: FilterSet
    /// In order; the first that matches applies. None matching: no content filters,
    /// anti-virus and outbreak filters on.
    public var policies: [MailPolicy]
    public var antivirus: (engine: any AntivirusEngine, policy: AntivirusPolicy)?
    public var outbreak: OutbreakPolicy?
    public var outbreakRules: OutbreakRules

    public init(messageFilters: FilterSet, policies: [MailPolicy] = [],
                antivirus: (engine: any AntivirusEngine, policy: AntivirusPolicy)? = nil,
                outbreak: OutbreakPolicy? = nil, outbreakRules: OutbreakRules = .empty) {
        self.messageFilters = messageFilters
        self.policies = policies
        self.antivirus = antivirus
        self.outbreak = outbreak
        self.outbreakRules = outbreakRules
    }

    /// Whether running from `start` looks at the message at all: false when no stage
    /// has anything to do (no filters, no anti-virus, no outbreak rules), so that the
    /// caller can skip reading the body.
    public func readsBody(from start: PipelineStage) -> Bool {
        if start <= .messageFilters, !messageFilters.names.isEmpty { return true }
        if start <= .antivirus || start == .outbreak, antivirus != nil { return true }
        if start <= .contentFilters, policies.contains(where: { !$0.contentFilters.names.isEmpty }) { return true }
        if start <= .outbreak, outbreak != nil, !outbreakRules.rules.isEmpty { return true }
        return false
    }

    /// Runs `input` through the stages from `start` on (`.messageFilters` for new mail;
    /// a released message resumes at its ticket's `resumeAt`). Never throws: engine
    /// trouble is a `retry` or a quarantine, as the anti-virus policy says.
    public func run(_ input: ScanInput, from start: PipelineStage = .messageFilters) async -> ScanOutcome {
        var run = PipelineRun(input: input)
        let policy = policies.first { $0.matches(mailFrom: input.mailFrom, recipients: input.recipients) }
        run.outcome.policy = policy?.name ?? "DEFAULT"
        let clock = ContinuousClock()

        if start <= .messageFilters {
            let began = clock.now
            run.applyFilters(messageFilters, kind: .messageFilter, stage: .messageFilters)
            run.outcome.timings.append((.messageFilters, clock.now - began))
            if run.finished { return run.outcome }
        }
        // An outbreak release is rescanned: anti-virus again, with today's signatures.
        if start <= .antivirus || start == .outbreak, let antivirus, policy?.antivirus ?? true {
            let began = clock.now
            await run.scanForViruses(antivirus.engine, antivirus.policy, resumeStage: start == .outbreak ? .outbreak : .antivirus)
            run.outcome.timings.append((.antivirus, clock.now - began))
            if run.finished { return run.outcome }
        }
        if start <= .contentFilters, let policy {
            let began = clock.now
            run.applyFilters(policy.contentFilters, kind: .contentFilter, stage: .contentFilters)
            run.outcome.timings.append((.contentFilters, clock.now - began))
            if run.finished { return run.outcome }
        }
        if start <= .outbreak, let outbreak, policy?.outbreak ?? true {
            let began = clock.now
            run.checkOutbreak(outbreakRules, outbreak)
            run.outcome.timings.append((.outbreak, clock.now - began))
            if run.finished { return run.outcome }
        }
        return run.outcome
    }
}

/// The state of one message going through the stages.
struct PipelineRun {
    var outcome: ScanOutcome
    let input: ScanInput
    private var parsed: MailMessage?

    init(input: ScanInput) {
        self.input = input
        outcome = ScanOutcome(disposition: .deliver, body: input.body, recipients: input.recipients, changed: false,
                              copies: [], notifications: [], events: [], timings: [], policy: "DEFAULT")
    }

    var finished: Bool {
        if case .deliver = outcome.disposition { return false }
        return true
    }

    /// The parsed current body (parsed again after a header edit).
    mutating func message() -> MailMessage {
        if let parsed { return parsed }
        let message = MailMessage(parsing: Array(outcome.body.readableBytesView))
        parsed = message
        return message
    }

    mutating func facts(textBodies: Bool) -> MessageFacts {
        let message = message()
        return MessageFacts(message: message, mailFrom: input.mailFrom, recipients: outcome.recipients,
                            remoteIP: input.remoteIP, senderGroup: input.senderGroup, listener: input.listener,
                            bodySize: outcome.body.readableBytes, textBodies: textBodies)
    }

    mutating func rewriteHeaders(inserting: [(name: String, value: String)], stripping: [String]) {
        guard !inserting.isEmpty || !stripping.isEmpty else { return }
        let original = Array(outcome.body.readableBytesView)
        guard let rewritten = try? HeaderRewriter.rewrite(original, inserting: inserting, stripping: stripping) else {
            outcome.events.append("header edit skipped: \(inserting.map(\.name) + stripping) cannot be written safely")
            return
        }
        outcome.body = ByteBuffer(bytes: rewritten)
        outcome.changed = true
        parsed = nil
    }

    // MARK: Filters

    mutating func applyFilters(_ filters: FilterSet, kind: QuarantineReason.Kind, stage: PipelineStage) {
        guard !filters.names.isEmpty else { return }
        let result = filters.evaluate(facts(textBodies: filters.needsTextBodies))
        let label = kind.rawValue
        for entry in result.logEntries { outcome.events.append("Custom Log Entry: \(entry.text)") }
        if let final = result.final {
            switch final {
            case .drop(let filter):
                outcome.events.append("dropped by \(label) '\(filter)'")
                outcome.disposition = .drop(reason: "\(label):\(filter)")
            case .bounce(let filter):
                outcome.events.append("bounced by \(label) '\(filter)'")
                outcome.disposition = .bounce(reason: "\(label):\(filter)")
            }
            return
        }
        rewriteHeaders(inserting: result.headerInsertions.map { (name: $0.name, value: $0.value) }, stripping: result.headerStrips)
        if !result.alternateRecipients.isEmpty && result.alternateRecipients != outcome.recipients {
            outcome.events.append("rewritten recipients by \(label): \(result.alternateRecipients.map { "<\($0)>" }.joined(separator: ", "))")
            outcome.recipients = result.alternateRecipients
            outcome.changed = true
        }
        outcome.notifications += result.notifications
        for flag in result.duplicateQuarantines {
            let ticket = QuarantineTicket(quarantine: flag.name, reason: QuarantineReason(kind: kind, detail: flag.filter),
                                          stage: stage, isCopy: true)
            outcome.copies.append(ticket)
            outcome.events.append("copy quarantined to \"\(flag.name)\" (\(ticket.reason))")
        }
        if !result.quarantines.isEmpty {
            let tickets = result.quarantines.map {
                QuarantineTicket(quarantine: $0.name, reason: QuarantineReason(kind: kind, detail: $0.filter), stage: stage)
            }
            for ticket in tickets { outcome.events.append("quarantined to \"\(ticket.quarantine)\" (\(ticket.reason))") }
            outcome.disposition = .quarantine(tickets)
        }
    }

    // MARK: Anti-virus

    mutating func scanForViruses(_ engine: any AntivirusEngine, _ policy: AntivirusPolicy, resumeStage: PipelineStage) async {
        let verdict: AntivirusVerdict
        if outcome.body.readableBytes > policy.maxScanBytes {
            verdict = .unscannable("\(outcome.body.readableBytes) bytes, over max_scan_bytes \(policy.maxScanBytes)")
        } else {
            verdict = await engine.scan(outcome.body)
        }
        outcome.events.append("antivirus \(verdict)")
        let action: AntivirusPolicy.Action
        let detail: String
        switch verdict {
        case .clean:
            return
        case .infected(let names):
            action = policy.infected
            detail = names.joined(separator: ", ")
        case .encrypted(let what):
            action = policy.encrypted
            detail = "encrypted \(what)"
        case .unscannable(let why):
            action = policy.unscannable
            detail = "unscannable \(why)"
        case .unavailable(let why):
            action = policy.unavailable == .deliver ? .wait : policy.unavailable
            detail = "unavailable \(why)"
            if action == .wait {
                outcome.events.append("antivirus engine unavailable: the message waits in the spool and is scanned again in \(policy.retrySeconds)s")
                outcome.disposition = .retry(from: resumeStage, reason: why)
                return
            }
        }
        switch action {
        case .quarantine(let name):
            let ticket = QuarantineTicket(quarantine: name, reason: QuarantineReason(kind: .antivirus, detail: detail), stage: .antivirus)
            outcome.events.append("quarantined to \"\(name)\" (\(ticket.reason))")
            outcome.disposition = .quarantine([ticket])
        case .drop:
            outcome.events.append("dropped by antivirus (\(detail))")
            outcome.disposition = .drop(reason: "antivirus:\(detail)")
        case .deliver, .wait:
            rewriteHeaders(inserting: [(name: policy.header, value: Self.headerValue(verdict))], stripping: [policy.header])
        }
    }

    static func headerValue(_ verdict: AntivirusVerdict) -> String {
        switch verdict {
        case .clean: "clean"
        case .infected(let names): "infected " + names.joined(separator: ", ")
        case .encrypted: "encrypted"
        case .unscannable: "unscannable"
        case .unavailable: "unscanned"
        }
    }

    // MARK: Outbreak

    mutating func checkOutbreak(_ rules: OutbreakRules, _ policy: OutbreakPolicy) {
        let matches = rules.rules.isEmpty ? [] : rules.matches(outbreakFacts(hashes: rules.rules.contains { !$0.attachmentSHA256.isEmpty }))
        guard let top = matches.first else {
            outcome.events.append("Outbreak Filters: verdict negative")
            return
        }
        outcome.events.append("Outbreak Filters: verdict positive, threat level \(top.threatLevel), rule \(top.id)")
        guard top.threatLevel >= policy.threshold else { return }
        let ticket = QuarantineTicket(quarantine: policy.quarantine,
                                      reason: QuarantineReason(kind: .outbreak, detail: top.id, threatLevel: top.threatLevel),
                                      stage: .outbreak, retentionSeconds: policy.retentionSeconds[top.threatLevel])
        outcome.events.append("quarantined to \"\(policy.quarantine)\" (\(ticket.reason))")
        outcome.disposition = .quarantine([ticket])
    }

    mutating func outbreakFacts(hashes: Bool) -> OutbreakFacts {
        let message = message()
        return OutbreakFacts(
            attachments: message.attachments.map { part in
                OutbreakFacts.Attachment(
                    filename: part.filename, contentType: part.contentType.mimeType,
                    sha256: hashes ? Self.hex(SHA256.hash(data: part.decodedBody)) : "")
            },
            urls: message.urls)
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
