import Foundation
import Yams

/// One outbreak rule: what a message in a current outbreak looks like, and how dangerous
/// it is. Every criterion given must match (and); a criterion matches if any attachment
/// (or any URL) of the message matches it.
public struct OutbreakRule: Sendable, Hashable {
    /// The rule id admins see in mail_logs and in the quarantine (`OUTB-17`).
    public var id: String
    /// 1 (low) to 5 (critical).
    public var threatLevel: Int
    public var description: String
    public var attachmentName: Pattern?
    public var attachmentType: Pattern?
    /// Lower-case hex SHA-256 digests of attachment contents (decoded).
    public var attachmentSHA256: Set<String>
    public var url: Pattern?

    /// Whether the message described by `facts` matches every criterion of the rule.
    public func matches(_ facts: OutbreakFacts) -> Bool {
        if let attachmentName, !facts.attachments.contains(where: { attachmentName.matches($0.filename ?? "") }) { return false }
        if let attachmentType, !facts.attachments.contains(where: { attachmentType.matches($0.contentType) }) { return false }
        if !attachmentSHA256.isEmpty, !facts.attachments.contains(where: { attachmentSHA256.contains($0.sha256) }) { return false }
        if let url, !facts.urls.contains(where: { url.matches($0) }) { return false }
        return true
    }
}

/// What the outbreak stage looks at in a message.
public struct OutbreakFacts: Sendable, Hashable {
    public struct Attachment: Sendable, Hashable {
        public var filename: String?
        public var contentType: String
        /// Lower-case hex SHA-256 of the decoded content.
        public var sha256: String
        public init(filename: String?, contentType: String, sha256: String) {
            self.filename = filename
            self.contentType = contentType
            self.sha256 = sha256
        }
    }
    public var attachments: [Attachment]
    public var urls: [String]
    public init(attachments: [Attachment], urls: [String]) {
        self.attachments = attachments
        self.urls = urls
    }
}

/// The outbreak rules in force: a versioned file that is replaced as a whole when a new
/// one is dropped in place (or installed with `lazaret outbreak update FILE`).
///
/// ```yaml
/// version: 2026112301
/// rules:
///   - id: OUTB-17
///     threat_level: 4
///     description: ISO images posing as invoices
///     attachment_name: '(?i)\.(iso|img)$'
///     attachment_type: '^application/'
///   - id: OUTB-18
///     threat_level: 5
///     attachment_sha256: [275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f]
///   - id: OUTB-19
///     threat_level: 3
///     url: '(?i)^https?://[^/]*\.invoice-portal\.example/'
/// ```
public struct OutbreakRules: Sendable, Hashable {
    /// The file's version; a newer file must have a different one (admins compare them).
    public var version: String
    public var rules: [OutbreakRule]

    public init(version: String, rules: [OutbreakRule]) {
        self.version = version
        self.rules = rules
    }

    /// No rules: every message is negative.
    public static let empty = OutbreakRules(version: "none", rules: [])

    /// Every rule the message matches, the most dangerous first (ties: file order).
    public func matches(_ facts: OutbreakFacts) -> [OutbreakRule] {
        rules.enumerated().filter { $0.element.matches(facts) }
            .sorted { ($0.element.threatLevel, -$0.offset) > ($1.element.threatLevel, -$1.offset) }
            .map(\.element)
    }

    /// Reads a rules file.
    /// - Throws: `OutbreakRulesError` naming the file, the rule and the field.
    public static func load(path: String) throws -> OutbreakRules {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw OutbreakRulesError("\(path): cannot read the outbreak rules file: \(error.localizedDescription)")
        }
        return try parse(text, source: path)
    }

    /// Parses the YAML text of a rules file; `source` names it in errors.
    public static func parse(_ text: String, source: String) throws -> OutbreakRules {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw OutbreakRulesError("\(source): not valid YAML: \(error)")
        }
        guard let root = node?.mapping else {
            throw OutbreakRulesError("\(source): expected a mapping with `version` and `rules`")
        }
        for key in root.keys.compactMap(\.string) where !["version", "rules"].contains(key) {
            throw OutbreakRulesError("\(source): unknown key `\(key)`; a rules file has `version` and `rules`")
        }
        guard let version = root["version"]?.scalar?.string, !version.isEmpty else {
            throw OutbreakRulesError("\(source): `version` is missing; give the file a version such as 2026112301")
        }
        var rules: [OutbreakRule] = []
        var seen = Set<String>()
        for (position, item) in (root["rules"]?.sequence.map(Array.init) ?? []).enumerated() {
            let rule = try parseRule(item, source: source, position: position + 1)
            guard seen.insert(rule.id).inserted else {
                throw OutbreakRulesError("\(source): rule \(position + 1): id `\(rule.id)` is used twice; ids must be unique")
            }
            rules.append(rule)
        }
        if root["rules"] != nil && root["rules"]?.sequence == nil {
            throw OutbreakRulesError("\(source): `rules` must be a list")
        }
        return OutbreakRules(version: version, rules: rules)
    }

    private static let ruleKeys: Set<String> = ["id", "threat_level", "description", "attachment_name", "attachment_type",
                                                "attachment_sha256", "url"]

    private static func parseRule(_ node: Node, source: String, position: Int) throws -> OutbreakRule {
        guard let map = node.mapping else {
            throw OutbreakRulesError("\(source): rule \(position): expected a mapping with id, threat_level and criteria")
        }
        let id = map["id"]?.scalar?.string ?? ""
        let name = id.isEmpty ? "rule \(position)" : "rule \(id)"
        func fail(_ message: String) -> OutbreakRulesError { OutbreakRulesError("\(source): \(name): \(message)") }
        for key in map.keys.compactMap(\.string) where !ruleKeys.contains(key) {
            throw fail("unknown field `\(key)`; known fields: \(ruleKeys.sorted().joined(separator: ", "))")
        }
        guard !id.isEmpty else { throw fail("`id` is missing") }
        guard id.count <= 64, id.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }), id.allSatisfy(\.isASCII) else {
            throw fail("`id` may hold letters, digits, '-', '_' and '.' only (64 at most)")
        }
        guard let levelText = map["threat_level"]?.scalar?.string, let level = Int(levelText), (1...5).contains(level) else {
            throw fail("`threat_level` must be a number from 1 to 5")
        }
        func pattern(_ key: String) throws -> Pattern? {
            guard let value = map[key] else { return nil }
            guard let text = value.scalar?.string else { throw fail("`\(key)` must be a regular expression in quotes") }
            do {
                return try Pattern(text)
            } catch {
                throw fail("`\(key)`: \(error)")
            }
        }
        var hashes = Set<String>()
        if let list = map["attachment_sha256"] {
            let items = list.sequence.map { Array($0) } ?? [list]
            for item in items {
                let hex = (item.scalar?.string ?? "").lowercased()
                guard hex.count == 64, hex.allSatisfy(\.isHexDigit) else {
                    throw fail("`attachment_sha256` entries must be 64 hex digits, found `\(item.scalar?.string ?? "?")`")
                }
                hashes.insert(hex)
            }
        }
        let rule = OutbreakRule(id: id, threatLevel: level, description: map["description"]?.scalar?.string ?? "",
                                attachmentName: try pattern("attachment_name"), attachmentType: try pattern("attachment_type"),
                                attachmentSHA256: hashes, url: try pattern("url"))
        guard rule.attachmentName != nil || rule.attachmentType != nil || !hashes.isEmpty || rule.url != nil else {
            throw fail("has no criterion; give at least one of attachment_name, attachment_type, attachment_sha256, url")
        }
        return rule
    }
}

/// A rules file that cannot be used; the message names file, rule and field.
public struct OutbreakRulesError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
