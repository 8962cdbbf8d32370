import Foundation
import MailLog
import NIOConcurrencyHelpers
import NIOCore
import Scanning
import Spool

/// The work queue: every accepted message goes through the scanning pipeline here
/// (message filters → anti-virus → content filters → outbreak filters) before its
/// delivery queue. The verdict is committed to the spool atomically (`Spool.replace`):
/// a rewritten message, a quarantine ticket, copies, notifications or a DSN take the
/// original's place in one record, so a crash never loses or doubles a message.
///
/// Messages wait here only in memory; they are in the spool with their next stage,
/// so a restart runs them again from that stage.
final class WorkQueue: Sendable {
    struct Settings: Sendable {
        var hostname: String
        var quarantineDestination: String
        var workers: Int
        var outbreakQuarantine: String
    }

    struct Job: Sendable {
        var message: SpooledMessage
        var stage: PipelineStage
    }

    /// Counts for `status` and tests.
    struct Counters: Sendable, Hashable {
        var scanned = 0
        var quarantined = 0
        var dropped = 0
        var bounced = 0
        var waiting = 0
    }

    private let pipeline: NIOLockedValueBox<ScanPipeline>
    private let spool: Spool
    private let log: MailLog
    private let router: MessageRouter
    private let settings: Settings
    private let hold: OutbreakHold?
    private let jobs: AsyncStream<Job>
    private let continuation: AsyncStream<Job>.Continuation
    private let delayed = NIOLockedValueBox<[(due: ContinuousClock.Instant, job: Job)]>([])
    private let stopping = NIOLockedValueBox(false)
    private let finished = NIOLockedValueBox<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    let counters = NIOLockedValueBox(Counters())
    let timings = StageTimings()

    init(pipeline: ScanPipeline, spool: Spool, log: MailLog, router: MessageRouter, settings: Settings, hold: OutbreakHold?) {
        self.pipeline = NIOLockedValueBox(pipeline)
        self.spool = spool
        self.log = log
        self.router = router
        self.settings = settings
        self.hold = hold
        (jobs, continuation) = AsyncStream.makeStream(of: Job.self)
    }

    /// The pipeline in force (filters, policies, rules).
    var current: ScanPipeline { pipeline.withLockedValue { $0 } }

    /// Puts a new pipeline in force for every message scanned from now on.
    func reload(_ new: ScanPipeline) {
        pipeline.withLockedValue { $0 = new }
    }

    /// Queues a stored message for the pipeline, from `stage` on.
    func submit(_ message: SpooledMessage, from stage: PipelineStage) {
        continuation.yield(Job(message: message, stage: stage))
    }

    /// Stops taking jobs; `run` returns once the messages being scanned are done.
    /// Messages still waiting stay in the spool for the next start.
    func stop() {
        stopping.withLockedValue { $0 = true }
        continuation.finish()
    }

    /// `stop()`, then waits until `run` has returned (every scan in flight committed).
    func stopAndWait() async {
        stop()
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let done = finished.withLockedValue { state -> Bool in
                if state.done { return true }
                state.waiters.append(waiter)
                return false
            }
            if done { waiter.resume() }
        }
    }

    /// Scans with at most `settings.workers` messages at once, until `stop()`.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.releaseDelayed() }
            var inFlight = 0
            for await job in jobs {
                if stopping.withLockedValue({ $0 }) { break }
                if inFlight >= settings.workers {
                    await group.next()
                    inFlight -= 1
                }
                group.addTask { await self.process(job) }
                inFlight += 1
            }
            await group.waitForAll()
        }
        let waiters = finished.withLockedValue { state in
            state.done = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Resubmits messages whose retry time has come (engine unavailable → wait).
    private func releaseDelayed() async {
        let clock = ContinuousClock()
        while !stopping.withLockedValue({ $0 }) {
            try? await Task.sleep(for: .milliseconds(250))
            let now = clock.now
            let due = delayed.withLockedValue { list -> [Job] in
                let ready = list.filter { $0.due <= now }.map(\.job)
                list.removeAll { $0.due <= now }
                return ready
            }
            if !due.isEmpty { counters.withLockedValue { $0.waiting -= due.count } }
            for job in due { submit(job.message, from: job.stage) }
        }
    }

    private func process(_ job: Job) async {
        let original = job.message.envelope
        let mid = original.mid
        guard let current = spool.message(mid) else { return }  // deleted meanwhile
        let pipeline = self.pipeline.withLockedValue { $0 }
        // Nothing to look at (no filters, anti-virus or outbreak rules): spare the read.
        var body = ByteBuffer()
        if pipeline.readsBody(from: job.stage) {
            do {
                body = try spool.bodySync(of: mid)
            } catch {
                log.critical("MID \(mid) cannot be read from the spool for scanning: \(error)")
                return
            }
        }
        let recipients = current.pendingRecipients.map { original.recipients[$0] }
        let input = ScanInput(mailFrom: original.mailFrom, recipients: recipients, remoteIP: original.remoteAddress,
                              senderGroup: original.attributes[EnvelopeAttribute.senderGroup], listener: original.listener,
                              body: body)
        let outcome = await pipeline.run(input, from: job.stage)
        timings.record(outcome.timings)
        for event in outcome.events { log.info("MID \(mid) \(event)") }

        var main = original
        main.recipients = outcome.recipients
        main.attributes[EnvelopeAttribute.pipeline] = PipelineStage.delivery.rawValue
        main.attributes[EnvelopeAttribute.policy] = outcome.policy
        var keepMain = true
        var parts: [(envelope: MessageEnvelope, body: ByteBuffer, note: String)] = []
        switch outcome.disposition {
        case .retry(let stage, _):
            let retry = Duration.seconds(pipelineRetrySeconds)
            delayed.withLockedValue { $0.append((ContinuousClock.now + retry, Job(message: job.message, stage: stage))) }
            counters.withLockedValue { $0.waiting += 1 }
            return
        case .deliver:
            break
        case .quarantine(let tickets):
            main.destination = settings.quarantineDestination
            main.attributes[EnvelopeAttribute.quarantines] = EnvelopeAttribute.encode(tickets)
            // Quarantined again after a release: a new quarantine entry, no longer that release.
            main.attributes[EnvelopeAttribute.release] = nil
            main.attributes[EnvelopeAttribute.releaseQID] = nil
        case .drop:
            keepMain = false
        case .bounce(let reason):
            keepMain = false
            if let dsn = GeneratedMail.policyBounce(of: original, body: body, reason: reason, mid: spool.nextMID(),
                                                    hostname: settings.hostname, destination: original.destination) {
                parts.append((dsn.envelope, dsn.body, "bounce"))
            }
        }
        if outcome.changed { main.size = outcome.body.readableBytes }
        for ticket in outcome.copies {
            var copy = main
            copy.mid = spool.nextMID()
            copy.destination = settings.quarantineDestination
            copy.attributes[EnvelopeAttribute.quarantines] = EnvelopeAttribute.encode([ticket])
            copy.attributes[EnvelopeAttribute.origin] = String(mid)
            copy.attributes[EnvelopeAttribute.release] = nil
            copy.attributes[EnvelopeAttribute.releaseQID] = nil
            parts.append((copy, outcome.body, "duplicate-quarantine \(ticket.reason)"))
        }
        let subject = outcome.notifications.isEmpty ? nil : HeaderSummary(body).subject
        for notification in outcome.notifications {
            let note = GeneratedMail.notification(notification, about: original, subject: subject, mid: spool.nextMID(),
                                                  hostname: settings.hostname, destination: original.destination)
            parts.append((note.envelope, note.body, "notify \(notification.filter)"))
        }
        if keepMain { parts.insert((main, outcome.body, ""), at: 0) }

        let unchanged: Bool
        if case .deliver = outcome.disposition, !outcome.changed, parts.count == 1 { unchanged = true } else { unchanged = false }
        if !unchanged {
            do {
                try await spool.replace(mid, with: parts.map { (envelope: $0.envelope, body: $0.body) })
            } catch let error as SpoolError where error.code == .unknownMessage {
                return  // deleted while it was scanned
            } catch {
                log.critical("MID \(mid) scan verdict could not be written to the spool: \(error); it is scanned again in \(pipelineRetrySeconds)s")
                delayed.withLockedValue { $0.append((ContinuousClock.now + .seconds(pipelineRetrySeconds), job)) }
                counters.withLockedValue { $0.waiting += 1 }
                return
            }
        }
        counters.withLockedValue { counters in
            counters.scanned += 1
            switch outcome.disposition {
            case .quarantine: counters.quarantined += 1
            case .drop: counters.dropped += 1
            case .bounce: counters.bounced += 1
            default: break
            }
        }
        for part in parts where part.envelope.mid != mid {
            log.info("MID \(part.envelope.mid) was generated based on MID \(mid) by \(part.note)")
        }
        if !keepMain { log.info("Message finished MID \(mid) \(outcome.disposition.finishedWord)") }
        switch outcome.disposition {
        case .quarantine(let tickets):
            let names = tickets.map { "\"\($0.quarantine)\" (\($0.reason))" }.joined(separator: ", ")
            await router.releaseNotDelivered(original, reason: "quarantined again on the gateway in \(names)")
        case .drop(let reason):
            await router.releaseNotDelivered(original, reason: "dropped by the gateway's pipeline: \(reason)")
        case .bounce(let reason):
            await router.releaseNotDelivered(original, reason: "bounced by the gateway's pipeline: \(reason)")
        case .deliver, .retry:
            break
        }
        if case .quarantine(let tickets) = outcome.disposition, let hold,
           let ticket = tickets.first(where: { $0.quarantine == settings.outbreakQuarantine && $0.stage == .outbreak }) {
            hold.keep(main, ticket: ticket, body: outcome.body, log: log)
        }
        for part in parts {
            await router.route(SpooledMessage(envelope: part.envelope, pendingRecipients: Array(part.envelope.recipients.indices)))
        }
    }

    private var pipelineRetrySeconds: Int {
        pipeline.withLockedValue { $0.antivirus?.policy.retrySeconds ?? 60 }
    }
}

extension ScanOutcome.Disposition {
    fileprivate var finishedWord: String {
        switch self {
        case .drop: "dropped"
        case .bounce: "bounced"
        default: "done"
        }
    }
}

/// Per-stage latency samples (for the benchmark and `status`); bounded.
final class StageTimings: Sendable {
    private let samples = NIOLockedValueBox<[PipelineStage: [Duration]]>([:])
    private static let limit = 200_000

    func record(_ timings: [(stage: PipelineStage, duration: Duration)]) {
        samples.withLockedValue { all in
            for t in timings where all[t.stage, default: []].count < Self.limit { all[t.stage, default: []].append(t.duration) }
        }
    }

    /// `message-filters n=5000 p50=0.041ms p90=0.060ms p99=0.120ms max=1.2ms`, one line a stage.
    func summary() -> [String] {
        let all = samples.withLockedValue { $0 }
        return PipelineStage.allCases.compactMap { stage in
            guard var list = all[stage], !list.isEmpty else { return nil }
            list.sort()
            func ms(_ p: Double) -> String {
                let d = list[min(list.count - 1, Int(Double(list.count) * p))]
                let value = Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
                return String(format: "%.3fms", value)
            }
            return "\(stage.rawValue) n=\(list.count) p50=\(ms(0.5)) p90=\(ms(0.9)) p99=\(ms(0.99)) max=\(ms(1.0))"
        }
    }
}
