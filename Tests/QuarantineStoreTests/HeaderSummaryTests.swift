import Testing
@testable import QuarantineStore

@Suite struct HeaderSummaryTests {
    static let cases: [(String, [UInt8], String?, String?)] = [
        ("plain", Array("Subject: Hello\r\nMessage-ID: <a@b>\r\n\r\nbody".utf8), "Hello", "<a@b>"),
        ("names in any case, LF only", Array("SUBJECT:Hi there\nmessage-id:  <x@y> \n\n".utf8), "Hi there", "<x@y>"),
        ("folded subject", Array("Subject: one\r\n\ttwo\r\n  three\r\nTo: a@b\r\n\r\n".utf8), "one\ttwo  three", nil),
        ("encoded words", Array("Subject: =?ISO-8859-1?Q?Gr=FC=DFe?= aus =?UTF-8?B?QmVybGlu?=\r\n\r\n".utf8), "Grüße aus Berlin", nil),
        ("8-bit Latin-1 bytes", Array("Subject: caf".utf8) + [0xE9] + Array("\r\n\r\n".utf8), "café", nil),
        ("first of two", Array("Subject: first\r\nSubject: second\r\n\r\n".utf8), "first", nil),
        ("only the header section", Array("From: a@b\r\n\r\nSubject: in the body\r\nMessage-ID: <no@no>\r\n".utf8), nil, nil),
        ("empty values", Array("Subject:\r\nMessage-ID: \r\n\r\n".utf8), "", nil),
        ("no headers at all", Array("\r\njust a body".utf8), nil, nil),
        ("name with space before colon", Array("Subject : spaced\r\n\r\n".utf8), "spaced", nil),
        ("lookalike names", Array("X-Subject: no\r\nSubjects: no\r\nMessage-IDs: <no>\r\n\r\n".utf8), nil, nil),
    ]

    @Test(arguments: cases.indices)
    func extractsSubjectAndMessageID(_ index: Int) {
        let (name, raw, subject, messageID) = Self.cases[index]
        let summary = HeaderSummary(scanning: raw)
        #expect(summary.subject == subject, "\(name)")
        #expect(summary.messageID == messageID, "\(name)")
    }

    @Test func scanStopsAtTheLimit() {
        let raw = Array(("X-Pad: " + String(repeating: "a", count: 100) + "\r\n").utf8) + Array("Subject: late\r\n\r\n".utf8)
        #expect(HeaderSummary(scanning: raw, limit: 50).subject == nil)
        #expect(HeaderSummary(scanning: raw, limit: raw.count).subject == "late")
    }

    @Test func longValuesAreCut() {
        let raw = Array(("Subject: " + String(repeating: "x", count: 5000) + "\r\n\r\n").utf8)
        #expect(HeaderSummary(scanning: raw).subject?.count == HeaderSummary.maxValueCharacters)
    }
}

@Suite struct QIDTests {
    @Test func randomQIDsAreWellFormedAndDistinct() {
        let qids = (0..<1000).map { _ in QID.random() }
        #expect(Set(qids).count == 1000)
        for qid in qids {
            #expect(qid.rawValue.count == 17)
            #expect(QID(qid.rawValue) == qid)
        }
        // Every base32 character shows up somewhere: all 80 bits are used, none stuck.
        let used = Set(qids.flatMap { $0.rawValue.dropFirst() })
        #expect(used.count == 32)
    }

    @Test(arguments: ["", "Q", "QAAAAAAAAAAAAAAA", "QAAAAAAAAAAAAAAAAA", "qAAAAAAAAAAAAAAAA", "QAAAAAAAAAAAAAAAa",
                      "QAAAAAAAAAAAAAAA1", "XAAAAAAAAAAAAAAAA", "QAAAAAAAAAAAAAAA8"])
    func malformedQIDsAreRejected(_ text: String) {
        #expect(QID(text) == nil)
    }
}
