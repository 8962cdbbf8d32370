import Foundation
import Testing
@testable import Scanning

/// The examples in docs/FILTERS.md (the blocks fenced as ```filters) parse and do what the text says.
@Suite struct FiltersDocumentationTests {
    static func documentedFilters() throws -> [String] {
        let docs = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/FILTERS.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        var blocks: [String] = []
        var current: [Substring]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line == "```filters" {
                current = []
            } else if current != nil, line == "```" {
                blocks.append(current!.joined(separator: "\n"))
                current = nil
            } else {
                current?.append(line)
            }
        }
        return blocks
    }

    @Test func examplesParse() throws {
        let blocks = try Self.documentedFilters()
        #expect(blocks.count == 2)
        for block in blocks {
            #expect(throws: Never.self) { try FilterSet.parse(block, allowedQuarantines: ["Policy", "Spam", "Legal"]) }
        }
    }

    @Test func examplesBehaveAsDescribed() throws {
        let set = try FilterSet.parse(try Self.documentedFilters()[1], allowedQuarantines: ["Policy", "Spam", "Legal"])
        #expect(set.names == ["block_exe", "big_mail", "tag_partner", "ceo_fraud", "confidential", "spam_flag", "broken",
                              "encrypted_mail", "postmaster"])

        var facts = FilterFixtures.typical
        facts.remoteIP = "203.0.113.9"
        facts.senderGroup = "ALL"
        facts.headers.append(.init(name: "From", value: "The CEO <CEO@example.com>"))
        facts.headers.append(.init(name: "X-Spam-Flag", value: "YES"))
        facts.textBodies.append("This is confidential.")
        facts.attachments.append(AttachmentFacts(filename: "run.me", contentType: "application/x-msdownload", size: 100))
        let result = set.evaluate(facts)
        #expect(result.matched == ["block_exe", "ceo_fraud", "confidential", "spam_flag"])
        #expect(result.quarantines.map(\.name) == ["Policy", "Spam"])
        #expect(result.quarantines.map(\.filter) == ["block_exe", "spam_flag"])
        #expect(result.duplicateQuarantines == [.init(name: "Legal", filter: "confidential")])
        #expect(result.notifications == [.init(recipient: "security@example.com", subject: "Possible CEO fraud", filter: "ceo_fraud")])
        #expect(result.logEntries == [.init(text: "executable attachment", filter: "block_exe")])

        // The partner, from its own network: tagged, later filters skipped.
        let partner = set.evaluate(FilterFixtures.typical)
        #expect(partner.stoppedBy == "tag_partner")
        #expect(partner.headerInsertions == [.init(name: "X-Partner", value: "yes")])
    }
}
