import CPQTLS
import Foundation
import MailLog
import NIOConcurrencyHelpers
import NIOCore
import Scanning
import Spool

/// The gateway's own copy of every message it sent to the Outbreak quarantine, so
/// that it can rescan them when the outbreak rules or the virus signatures change.
/// One `<MID>.eml` and one `<MID>.json` per message, each written durably with
/// `SecureFile.write` (temporary name, fsync, rename, directory fsync).
final class OutbreakHold: Sendable {
    struct Entry: Codable, Sendable {
        var mid: MID
        var mailFrom: String
        var recipients: [String]
        var remoteIP: String
        var senderGroup: String?
        var listener: String
        var ticket: QuarantineTicket
        var heldAt: Double
    }

    let directory: String

    init(directory: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func keep(_ envelope: MessageEnvelope, ticket: QuarantineTicket, body: ByteBuffer, log: MailLog) {
        let entry = Entry(mid: envelope.mid, mailFrom: envelope.mailFrom, recipients: envelope.recipients,
                          remoteIP: envelope.remoteAddress, senderGroup: envelope.attributes[EnvelopeAttribute.senderGroup],
                          listener: envelope.listener, ticket: ticket, heldAt: Date().timeIntervalSince1970)
        do {
            try SecureFile.write(body.readableBytesView, to: "\(directory)/\(envelope.mid).eml", mode: SecureFile.publicMode)
            try SecureFile.write(try JSONEncoder().encode(entry), to: "\(directory)/\(envelope.mid).json", mode: SecureFile.publicMode)
        } catch {
            log.warning("MID \(envelope.mid) outbreak copy not kept (\(error)); it will not be rescanned on rule updates")
        }
    }

    /// Every held message with its body, in MID order.
    func entries() -> [(entry: Entry, body: ByteBuffer)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".json") }.compactMap { name -> (Entry, ByteBuffer)? in
            guard let json = FileManager.default.contents(atPath: "\(directory)/\(name)"),
                  let entry = try? JSONDecoder().decode(Entry.self, from: json),
                  let eml = FileManager.default.contents(atPath: "\(directory)/\(entry.mid).eml") else { return nil }
            return (entry, ByteBuffer(bytes: eml))
        }.sorted { $0.0.mid < $1.0.mid }
    }

    func remove(_ mid: MID) {
        try? FileManager.default.removeItem(atPath: "\(directory)/\(mid).json")
        try? FileManager.default.removeItem(atPath: "\(directory)/\(mid).eml")
    }
}

/// What a rescan says about one held message.
struct OutbreakRescanReport: Sendable, Hashable {
    enum Verdict: String, Sendable {
        /// No rule at or above the threshold matches any more, and anti-virus is clean.
        case release
        /// Still an outbreak (or no verdict possible now).
        case keep
        /// Anti-virus now finds a virus: it belongs in the Virus quarantine.
        case virus = "re-quarantine as Virus"
    }
    var mid: MID
    var verdict: Verdict
    var detail: String
}

/// Watches the outbreak rules file and clamd's signature version; when either changes,
/// puts the new rules in force and rescans every held outbreak message, logging for each
/// `release`, `keep` or `re-quarantine as Virus`.
final class OutbreakWatcher: Sendable {
    private let rulesPath: String
    private let pollSeconds: Int
    private let work: WorkQueue
    private let hold: OutbreakHold
    private let log: MailLog
    private let engine: (any AntivirusEngine)?
    private let seen = NIOLockedValueBox<(file: String?, engine: String?)>((nil, nil))

    init(rulesPath: String, pollSeconds: Int, work: WorkQueue, hold: OutbreakHold, log: MailLog, engine: (any AntivirusEngine)?) {
        self.rulesPath = rulesPath
        self.pollSeconds = pollSeconds
        self.work = work
        self.hold = hold
        self.log = log
        self.engine = engine
    }

    /// Loads the rules file at start. A missing file means no rules (logged); a bad one stops the start.
    static func initialRules(path: String, log: MailLog) throws -> OutbreakRules {
        guard FileManager.default.fileExists(atPath: path) else {
            log.warning("Outbreak rules file \(path) not found: outbreak filters have no rules until it is created")
            return .empty
        }
        let rules = try OutbreakRules.load(path: path)
        log.info("Outbreak rules version \(rules.version) loaded: \(rules.rules.count) rule(s)")
        return rules
    }

    /// Checks for updates every `pollSeconds` until cancelled or `stopped` says so.
    func run(stopped: @Sendable () -> Bool) async {
        seen.withLockedValue { $0.file = Self.fingerprint(rulesPath) }
        if let engine { let v = try? await engine.version(); seen.withLockedValue { $0.engine = v } }
        while !stopped() {
            for _ in 0..<(pollSeconds * 4) where !stopped() {
                try? await Task.sleep(for: .milliseconds(250))
            }
            if stopped() { break }
            await check()
        }
    }

    /// Looks for a new rules file or new signatures now (also on SIGHUP); rescans if so.
    @discardableResult
    func check() async -> [OutbreakRescanReport] {
        var reasons: [String] = []
        let fingerprint = Self.fingerprint(rulesPath)
        if fingerprint != seen.withLockedValue({ $0.file }) {
            seen.withLockedValue { $0.file = fingerprint }
            if fingerprint != nil {
                do {
                    let rules = try OutbreakRules.load(path: rulesPath)
                    let old = work.current.outbreakRules
                    if rules != old {
                        var pipeline = work.current
                        pipeline.outbreakRules = rules
                        work.reload(pipeline)
                        log.info("Outbreak rules updated from version \(old.version) to \(rules.version): \(rules.rules.count) rule(s)")
                        reasons.append("rules \(rules.version)")
                    }
                } catch {
                    log.warning("Outbreak rules file rejected: \(error); rules version \(work.current.outbreakRules.version) stay in force")
                }
            }
        }
        if let engine, let version = try? await engine.version(), version != seen.withLockedValue({ $0.engine }) {
            let before = seen.withLockedValue { state -> String? in
                defer { state.engine = version }
                return state.engine
            }
            if before != nil {
                log.info("Anti-virus signatures updated: \(version)")
                reasons.append("signatures \(version)")
            }
        }
        guard !reasons.isEmpty else { return [] }
        return await rescan(because: reasons.joined(separator: ", "))
    }

    /// Rescans every held message with the rules and signatures in force now.
    func rescan(because reason: String) async -> [OutbreakRescanReport] {
        let pipeline = work.current
        var reports: [OutbreakRescanReport] = []
        for (entry, body) in hold.entries() {
            let input = ScanInput(mailFrom: entry.mailFrom, recipients: entry.recipients, remoteIP: entry.remoteIP,
                                  senderGroup: entry.senderGroup, listener: entry.listener, body: body)
            let outcome = await pipeline.run(input, from: .outbreak)
            let report: OutbreakRescanReport
            switch outcome.disposition {
            case .deliver:
                report = .init(mid: entry.mid, verdict: .release, detail: "no outbreak rule at or above the threshold matches")
            case .quarantine(let tickets) where tickets.contains { $0.stage == .antivirus }:
                report = .init(mid: entry.mid, verdict: .virus, detail: tickets.map(\.reason.description).joined(separator: ", "))
            case .drop(let why):
                report = .init(mid: entry.mid, verdict: .virus, detail: why)
            case .quarantine(let tickets):
                report = .init(mid: entry.mid, verdict: .keep, detail: tickets.map(\.reason.description).joined(separator: ", "))
            case .retry(_, let why):
                report = .init(mid: entry.mid, verdict: .keep, detail: "no verdict now: \(why)")
            case .bounce(let why):
                report = .init(mid: entry.mid, verdict: .keep, detail: why)
            }
            log.info("MID \(entry.mid) Outbreak rescan (\(reason)): \(report.verdict.rawValue) (\(report.detail))")
            if report.verdict != .keep { hold.remove(entry.mid) }
            reports.append(report)
        }
        return reports
    }

    /// Size, modification time and inode of the rules file; nil when it is missing.
    private static func fingerprint(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return "\(info.st_size)/\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)/\(info.st_ino)"
    }
}
