import Scanning

extension GatewayConfiguration {
    /// The quarantines every gateway knows; `quarantines` adds named policy quarantines.
    public static let systemQuarantines = ["Policy", "Virus", "Outbreak"]

    /// A mail policy: the senders/recipients it covers and what scans them.
    public struct MailPolicySettings: Hashable, Sendable {
        public var name: String
        /// Regular expressions on the envelope sender; empty = any.
        public var senders: [String]
        /// Regular expressions on envelope recipients (one match is enough); empty = any.
        public var recipients: [String]
        /// Content filters, in the message filter syntax (docs/FILTERS.md).
        public var contentFilters: String
        public var antivirus: Bool
        public var outbreak: Bool

        public init(name: String, senders: [String] = [], recipients: [String] = [], contentFilters: String = "",
                    antivirus: Bool = true, outbreak: Bool = true) {
            self.name = name
            self.senders = senders
            self.recipients = recipients
            self.contentFilters = contentFilters
            self.antivirus = antivirus
            self.outbreak = outbreak
        }
    }

    /// Whether the anti-virus stage runs.
    public enum AntivirusMode: String, Hashable, Sendable, CaseIterable {
        /// Always: with clamd down, mail waits (or goes where `unavailable` says).
        case on
        case off
        /// On if clamd answers when the gateway starts, else off with a loud warning
        /// (what `lazaret up` uses, so a laptop without clamd still runs).
        case auto
    }

    /// The anti-virus stage: where clamd is and what each verdict does. Actions are
    /// `quarantine` (to Virus), `quarantine:NAME`, `drop`, `deliver` (with `header`),
    /// and for `unavailable` only `wait` (scan again later) or a quarantine.
    public struct AntivirusSettings: Hashable, Sendable {
        public var enabled: AntivirusMode
        /// clamd's socket path (`/var/run/clamav/clamd.ctl`) or `host:port`.
        public var clamd: String
        public var timeoutSeconds: Int
        public var maxScanBytes: Int
        public var infected: String
        public var encrypted: String
        public var unscannable: String
        public var unavailable: String
        public var header: String
        public var retrySeconds: Int

        public init(enabled: AntivirusMode = .on, clamd: String = "/var/run/clamav/clamd.ctl", timeoutSeconds: Int = 30,
                    maxScanBytes: Int = 25 << 20, infected: String = "quarantine:Virus", encrypted: String = "deliver",
                    unscannable: String = "quarantine:Virus", unavailable: String = "wait", header: String = "X-Lazaret-AV",
                    retrySeconds: Int = 60) {
            self.enabled = enabled
            self.clamd = clamd
            self.timeoutSeconds = timeoutSeconds
            self.maxScanBytes = maxScanBytes
            self.infected = infected
            self.encrypted = encrypted
            self.unscannable = unscannable
            self.unavailable = unavailable
            self.header = header
            self.retrySeconds = retrySeconds
        }

        /// Parses an action; nil when it is not one.
        static func action(_ text: String) -> AntivirusPolicy.Action? {
            switch text {
            case "quarantine": return .quarantine("Virus")
            case "drop": return .drop
            case "deliver": return .deliver
            case "wait": return .wait
            default:
                guard text.hasPrefix("quarantine:"), text.count > 11 else { return nil }
                return .quarantine(String(text.dropFirst(11)))
            }
        }

        /// The policy these settings describe (valid settings only).
        public var policy: AntivirusPolicy {
            AntivirusPolicy(infected: Self.action(infected) ?? .quarantine("Virus"),
                            encrypted: Self.action(encrypted) ?? .quarantine("Virus"),
                            unscannable: Self.action(unscannable) ?? .quarantine("Virus"),
                            unavailable: Self.action(unavailable) ?? .wait,
                            header: header, maxScanBytes: maxScanBytes, retrySeconds: retrySeconds)
        }
    }

    /// The outbreak stage: the rules file, the threshold and retention by threat level.
    public struct OutbreakSettings: Hashable, Sendable {
        public var enabled: Bool
        /// The rules file (relative to home); replace it to update the rules.
        public var rules: String
        public var threshold: Int
        public var quarantine: String
        /// Hours held, by threat level 1-5.
        public var retentionHours: [Int: Int]
        /// How often the rules file and clamd's signature version are checked for updates.
        public var pollSeconds: Int
        /// Where the gateway keeps its copy of each outbreak-quarantined message for rescans.
        public var heldCopies: String

        public init(enabled: Bool = true, rules: String = "outbreak-rules.yaml", threshold: Int = 3, quarantine: String = "Outbreak",
                    retentionHours: [Int: Int] = [1: 1, 2: 2, 3: 6, 4: 12, 5: 24], pollSeconds: Int = 30,
                    heldCopies: String = "outbreak-held") {
            self.enabled = enabled
            self.rules = rules
            self.threshold = threshold
            self.quarantine = quarantine
            self.retentionHours = retentionHours
            self.pollSeconds = pollSeconds
            self.heldCopies = heldCopies
        }

        public var policy: OutbreakPolicy {
            OutbreakPolicy(threshold: threshold, quarantine: quarantine,
                           retentionSeconds: retentionHours.mapValues { $0 * 3600 })
        }
    }

    /// The content pipeline's settings, under their own top-level keys.
    public struct ScanningSettings: Hashable, Sendable {
        /// Named policy quarantines filters may use, besides Policy, Virus and Outbreak.
        public var quarantines: [String]
        /// The delivery queue quarantined mail goes to (the link to the manager).
        public var quarantineDestination: String
        /// The message filters, in order (docs/FILTERS.md).
        public var messageFilters: String
        public var mailPolicies: [MailPolicySettings]
        public var antivirus: AntivirusSettings
        public var outbreak: OutbreakSettings
        /// Messages scanned at once.
        public var workers: Int

        public init(quarantines: [String] = [], quarantineDestination: String = "the.cpq.host", messageFilters: String = "",
                    mailPolicies: [MailPolicySettings] = [], antivirus: AntivirusSettings = .init(),
                    outbreak: OutbreakSettings = .init(), workers: Int = 8) {
            self.quarantines = quarantines
            self.quarantineDestination = quarantineDestination
            self.messageFilters = messageFilters
            self.mailPolicies = mailPolicies
            self.antivirus = antivirus
            self.outbreak = outbreak
            self.workers = workers
        }

        /// Every quarantine name filters and actions may use.
        public var allQuarantines: Set<String> { Set(GatewayConfiguration.systemQuarantines + quarantines) }
    }

    /// Checks filters, policies and actions; returns problems naming the field.
    func scanningProblems() -> [String] {
        var problems: [String] = []
        let allowed = scanning.allQuarantines
        for (index, name) in scanning.quarantines.enumerated() {
            if name.isEmpty || name.count > 64 || !name.allSatisfy({ $0.isLetter || $0.isNumber || "-_ ".contains($0) }) {
                problems.append("quarantines[\(index)]: \"\(name)\" is not a valid quarantine name (letters, digits, '-', '_', space; 64 at most)")
            }
        }
        if !effectiveDestinations.contains(where: { $0.name == scanning.quarantineDestination }) {
            problems.append("quarantine_destination: \"\(scanning.quarantineDestination)\" is not a defined destination (defined: \(destinations.map(\.name).joined(separator: ", ")))")
        }
        do {
            _ = try FilterSet.parse(scanning.messageFilters, allowedQuarantines: allowed)
        } catch {
            problems.append("message_filters: \(error)")
        }
        var policyNames = Set<String>()
        for (index, policy) in scanning.mailPolicies.enumerated() {
            let path = "mail_policies[\(policy.name.isEmpty ? String(index) : policy.name)]"
            if policy.name.isEmpty { problems.append("\(path).name: is empty") }
            if !policyNames.insert(policy.name).inserted { problems.append("\(path).name: \"\(policy.name)\" is used twice") }
            for (i, pattern) in policy.senders.enumerated() where (try? Pattern(pattern)) == nil {
                problems.append("\(path).senders[\(i)]: '\(pattern)' is not a valid regular expression")
            }
            for (i, pattern) in policy.recipients.enumerated() where (try? Pattern(pattern)) == nil {
                problems.append("\(path).recipients[\(i)]: '\(pattern)' is not a valid regular expression")
            }
            do {
                _ = try FilterSet.parse(policy.contentFilters, allowedQuarantines: allowed)
            } catch {
                problems.append("\(path).content_filters: \(error)")
            }
        }
        let av = scanning.antivirus
        if ClamdAddress(av.clamd) == nil {
            problems.append("antivirus.clamd: \"\(av.clamd)\" is neither a socket path nor host:port")
        }
        for (key, value, allowWait) in [("infected", av.infected, false), ("encrypted", av.encrypted, false),
                                        ("unscannable", av.unscannable, false), ("unavailable", av.unavailable, true)] {
            guard let action = AntivirusSettings.action(value) else {
                problems.append("antivirus.\(key): \"\(value)\" is not an action (quarantine, quarantine:NAME, drop, deliver\(allowWait ? ", wait" : ""))")
                continue
            }
            if case .quarantine(let name) = action, !allowed.contains(name) {
                problems.append("antivirus.\(key): quarantine \"\(name)\" is not defined (defined: \(allowed.sorted().joined(separator: ", ")))")
            }
            if action == .wait && !allowWait { problems.append("antivirus.\(key): wait is only for unavailable") }
            if action == .deliver && key == "unavailable" {
                problems.append("antivirus.unavailable: deliver would let mail through unscanned; use wait or quarantine:NAME")
            }
        }
        if av.timeoutSeconds < 1 { problems.append("antivirus.timeout_s: \(av.timeoutSeconds) must be at least 1") }
        if av.retrySeconds < 1 { problems.append("antivirus.retry_s: \(av.retrySeconds) must be at least 1") }
        if av.maxScanBytes < 1024 { problems.append("antivirus.max_scan_bytes: \(av.maxScanBytes) must be at least 1024") }
        if av.header.isEmpty || !av.header.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) {
            problems.append("antivirus.header: \"\(av.header)\" is not a header name")
        }
        let ob = scanning.outbreak
        if !(1...5).contains(ob.threshold) { problems.append("outbreak.threshold: \(ob.threshold) must be 1 to 5") }
        if !allowed.contains(ob.quarantine) { problems.append("outbreak.quarantine: \"\(ob.quarantine)\" is not defined") }
        for (level, hours) in ob.retentionHours where !(1...5).contains(level) || hours < 1 {
            problems.append("outbreak.retention_h: level \(level) → \(hours)h; levels are 1-5 and hours at least 1")
        }
        if ob.pollSeconds < 1 { problems.append("outbreak.poll_s: \(ob.pollSeconds) must be at least 1") }
        if ob.rules.isEmpty { problems.append("outbreak.rules: is empty") }
        if scanning.workers < 1 { problems.append("scan_workers: \(scanning.workers) must be at least 1") }
        return problems
    }
}

// MARK: YAML

extension GatewayConfiguration.MailPolicySettings: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, senders, recipients
        case contentFilters = "content_filters"
        case antivirus, outbreak
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try c.decode(String.self, forKey: .name), senders: try c.value(.senders, default: []),
                  recipients: try c.value(.recipients, default: []), contentFilters: try c.value(.contentFilters, default: ""),
                  antivirus: try c.value(.antivirus, default: true), outbreak: try c.value(.outbreak, default: true))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(senders, forKey: .senders)
        try c.encode(recipients, forKey: .recipients)
        try c.encode(contentFilters, forKey: .contentFilters)
        try c.encode(antivirus, forKey: .antivirus)
        try c.encode(outbreak, forKey: .outbreak)
    }
}

extension GatewayConfiguration.AntivirusSettings: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case enabled, clamd
        case timeoutSeconds = "timeout_s"
        case maxScanBytes = "max_scan_bytes"
        case infected, encrypted, unscannable, unavailable, header
        case retrySeconds = "retry_s"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = Self()
        // `enabled: true/false` reads as on/off.
        let enabled: GatewayConfiguration.AntivirusMode
        if let flag = try? c.decodeIfPresent(Bool.self, forKey: .enabled) {
            enabled = flag ? .on : .off
        } else {
            enabled = try c.choice(.enabled, default: d.enabled)
        }
        self.init(enabled: enabled, clamd: try c.value(.clamd, default: d.clamd),
                  timeoutSeconds: try c.value(.timeoutSeconds, default: d.timeoutSeconds),
                  maxScanBytes: try c.value(.maxScanBytes, default: d.maxScanBytes),
                  infected: try c.value(.infected, default: d.infected), encrypted: try c.value(.encrypted, default: d.encrypted),
                  unscannable: try c.value(.unscannable, default: d.unscannable),
                  unavailable: try c.value(.unavailable, default: d.unavailable), header: try c.value(.header, default: d.header),
                  retrySeconds: try c.value(.retrySeconds, default: d.retrySeconds))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(enabled.rawValue, forKey: .enabled)
        try c.encode(clamd, forKey: .clamd)
        try c.encode(timeoutSeconds, forKey: .timeoutSeconds)
        try c.encode(maxScanBytes, forKey: .maxScanBytes)
        try c.encode(infected, forKey: .infected)
        try c.encode(encrypted, forKey: .encrypted)
        try c.encode(unscannable, forKey: .unscannable)
        try c.encode(unavailable, forKey: .unavailable)
        try c.encode(header, forKey: .header)
        try c.encode(retrySeconds, forKey: .retrySeconds)
    }
}

extension GatewayConfiguration.OutbreakSettings: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case enabled, rules, threshold, quarantine
        case retentionHours = "retention_h"
        case pollSeconds = "poll_s"
        case heldCopies = "held_copies"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = Self()
        self.init(enabled: try c.value(.enabled, default: d.enabled), rules: try c.value(.rules, default: d.rules),
                  threshold: try c.value(.threshold, default: d.threshold), quarantine: try c.value(.quarantine, default: d.quarantine),
                  retentionHours: try c.value(.retentionHours, default: d.retentionHours),
                  pollSeconds: try c.value(.pollSeconds, default: d.pollSeconds),
                  heldCopies: try c.value(.heldCopies, default: d.heldCopies))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(enabled, forKey: .enabled)
        try c.encode(rules, forKey: .rules)
        try c.encode(threshold, forKey: .threshold)
        try c.encode(quarantine, forKey: .quarantine)
        try c.encode(retentionHours, forKey: .retentionHours)
        try c.encode(pollSeconds, forKey: .pollSeconds)
        try c.encode(heldCopies, forKey: .heldCopies)
    }
}

extension GatewayConfiguration {
    /// The comment `lazaret up` puts at the top of the lazaret.yaml it writes.
    public static let starterHeader = """
        # Lazaret gateway configuration, written by `lazaret up`; edit it freely.
        # Every key is described in docs/CONFIGURATION.md; the filter language in
        # docs/FILTERS.md. `lazaret reload` (or SIGHUP) puts new message filters,
        # mail policies and anti-virus actions in force without dropping sessions.
        #
        # Starter policy: executables and scripts (by attachment name and type) go
        # to the Policy quarantine; anti-virus positives go to Virus; outbreak
        # rules come from outbreak-rules.yaml. Quarantined mail waits in the
        # delivery queue the.cpq.host for the manager.
        #
        # antivirus.enabled: auto uses clamd at /var/run/clamav/clamd.ctl when it
        # answers at start and says loudly that anti-virus is off when none does.
        # In production set it to `on`: mail then waits until clamd answers.

        """

    /// The sample outbreak rules file `lazaret up` writes next to its configuration.
    public static let sampleOutbreakRules = #"""
        # Outbreak filter rules (docs/FILTERS.md, "Outbreak filters"). Replace this
        # file with a newer version, or run `lazaret outbreak update FILE`: the
        # gateway picks it up and rescans the messages it holds for outbreak.
        version: 2026112301
        rules:
          - id: OUTB-1
            threat_level: 4
            description: Disk images sent as attachments, a common malware carrier
            attachment_name: '(?i)\.(iso|img|vhd|vhdx)$'
          - id: OUTB-2
            threat_level: 3
            description: HTML attachments posing as invoices, payments or voicemail
            attachment_name: '(?i)(invoice|payment|voicemail|fax).*\.html?$'
          - id: OUTB-3
            threat_level: 2
            description: Links to a file-sharing domain seen in a campaign (example)
            url: '(?i)^https?://[^/]*\.example-fileshare\.test/'

        """#
}
