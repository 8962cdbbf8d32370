import Foundation
import Testing
@testable import MailMessage

@Suite struct ReleaseModificationsTests {
    static let tag = ReleaseModifications(subjectTag: "[RELEASED]")
    static let strip = ReleaseModifications(stripAttachments: true)

    /// Lines of `bytes` split at the given line end; the text must use no other.
    func lines(_ bytes: [UInt8], _ ending: LineEnding) -> [Substring] {
        text(bytes).split(separator: ending == .crlf ? "\r\n" : "\n", omittingEmptySubsequences: false)
    }

    func usesOnly(_ ending: LineEnding, _ bytes: [UInt8]) -> Bool {
        for (index, byte) in bytes.enumerated() where byte == 0x0A {
            let afterCR = index > 0 && bytes[index - 1] == 0x0D
            if afterCR != (ending == .crlf) { return false }
        }
        return ending == .crlf || !bytes.contains(0x0D)
    }

    // MARK: Subject tag

    @Test(arguments: LineEnding.allCases)
    func tagGoesBeforeThePlainSubjectInPlace(_ ending: LineEnding) throws {
        let raw = "From: a@example.com\nSubject: hello there\nTo: b@example.net\n\nbody\n".bytes(ending)
        let out = try Self.tag.apply(to: raw)
        #expect(out == "From: a@example.com\nSubject: [RELEASED] hello there\nTo: b@example.net\n\nbody\n".bytes(ending))
        #expect(MailMessage(parsing: out).subject == "[RELEASED] hello there")
    }

    @Test(arguments: LineEnding.allCases)
    func encodedSubjectStaysValid(_ ending: LineEnding) throws {
        let raw = Fixtures.nested.bytes(ending)
        let out = try Self.tag.apply(to: raw)
        let message = MailMessage(parsing: out)
        #expect(message.subject == "[RELEASED] Report Übersicht")
        #expect(message.headers.first("subject")?.rawValue == "[RELEASED] =?UTF-8?B?UmVwb3J0IMOcYmVyc2ljaHQ=?=")
        #expect(usesOnly(ending, out))
        #expect(message.root.rawBody == MailMessage(parsing: raw).root.rawBody)
        #expect(message.defects == MailMessage(parsing: raw).defects)
    }

    @Test(arguments: [
        ("Subject: =?UTF-8?B?UmVwb3J0IMOcYmVyc2ljaHQ=?=", "[FREIGEGEBEN ✓] Report Übersicht"),
        ("Subject: plain words", "[FREIGEGEBEN ✓] plain words"),
        ("Subject: =?iso-8859-1?Q?Rechnung_f=FCr_Mai?= und mehr", "[FREIGEGEBEN ✓] Rechnung für Mai und mehr"),
    ])
    func nonASCIITagIsAnEncodedWord(_ header: String, _ expected: String) throws {
        let raw = "\(header)\n\nbody\n".bytes()
        let out = try ReleaseModifications(subjectTag: "[FREIGEGEBEN ✓]").apply(to: raw)
        let message = MailMessage(parsing: out)
        #expect(message.subject == expected)
        #expect(out.allSatisfy { $0 < 0x80 }, "the header stays ASCII")
        #expect(!message.defects.contains(.eightBitInHeader))
    }

    @Test func longNonASCIITagIsSplitIntoWordsOfAtMost75Octets() throws {
        let tagText = String(repeating: "ü", count: 60)
        let out = try ReleaseModifications(subjectTag: tagText).apply(to: "Subject: x\r\n\r\nb".bytes())
        let message = MailMessage(parsing: out)
        #expect(message.subject == tagText + " x")
        let words = message.headers.first("subject")!.rawValue.split(separator: " ").filter { $0.hasPrefix("=?") }
        #expect(words.count >= 2)
        #expect(words.allSatisfy { $0.utf8.count <= 75 })
    }

    @Test(arguments: LineEnding.allCases)
    func subjectIsAddedWhenThereIsNone(_ ending: LineEnding) throws {
        let raw = "From: a@example.com\nTo: b@example.net\n\nbody\n".bytes(ending)
        let out = try Self.tag.apply(to: raw)
        #expect(out == "Subject: [RELEASED]\nFrom: a@example.com\nTo: b@example.net\n\nbody\n".bytes(ending))
        let encoded = try ReleaseModifications(subjectTag: "[FREIGEGEBEN ✓]").apply(to: raw)
        #expect(MailMessage(parsing: encoded).subject == "[FREIGEGEBEN ✓]")
    }

    @Test func emptyAndFoldedSubjects() throws {
        let empty = try Self.tag.apply(to: "Subject:\r\nTo: b@example.net\r\n\r\nb".bytes())
        #expect(text(empty) == "Subject: [RELEASED]\r\nTo: b@example.net\r\n\r\nb")

        // The value starts on a continuation line: the tag goes on the first line.
        let continued = try Self.tag.apply(to: "Subject:\r\n  on the next line\r\n\r\nb".bytes())
        #expect(MailMessage(parsing: continued).subject == "[RELEASED]  on the next line")

        let folded = "Subject: \(String(repeating: "word ", count: 13))end\r\n continued here\r\nTo: b@example.net\r\n\r\nb"
        let out = try Self.tag.apply(to: Array(folded.utf8))
        let header = lines(out, .crlf).prefix { !$0.isEmpty }
        #expect(header.allSatisfy { $0.utf8.count <= 78 }, "folded after the tag rather than made longer than 78")
        #expect(MailMessage(parsing: out).subject == "[RELEASED] \(String(repeating: "word ", count: 13))end continued here")
        #expect(header.last == "To: b@example.net")
    }

    @Test func onlyTheFirstSubjectIsTaggedAndATaggedSubjectIsLeftAlone() throws {
        let twice = try Self.tag.apply(to: "Subject: one\r\nSubject: two\r\n\r\nb".bytes())
        #expect(text(twice) == "Subject: [RELEASED] one\r\nSubject: two\r\n\r\nb")
        let tagged = "Subject: [RELEASED] already\r\n\r\nb".bytes()
        #expect(try Self.tag.apply(to: tagged) == tagged)
        // "Subject" in the body is not a header.
        let bodyOnly = "To: b@example.net\r\n\r\nSubject: not a header\r\n".bytes()
        #expect(MailMessage(parsing: try Self.tag.apply(to: bodyOnly)).subject == "[RELEASED]")
    }

    // MARK: Added header

    @Test(arguments: LineEnding.allCases)
    func headerIsAddedAtTheTopAndLongValuesFolded(_ ending: LineEnding) throws {
        let raw = Fixtures.nested.bytes(ending)
        let value = "by api:alice " + (0..<20).map { "note\($0)" }.joined(separator: " ")
        let out = try ReleaseModifications(addedHeader: .init(name: "X-Lazaret-Released", value: value)).apply(to: raw)
        #expect(text(out).hasPrefix("X-Lazaret-Released: by api:alice note0"))
        let message = MailMessage(parsing: out)
        #expect(message.headers["x-lazaret-released"] == value)
        #expect(message.headers.fields.first?.name == "X-Lazaret-Released")
        let added = lines(out, ending).prefix { !$0.hasPrefix("Return-Path:") }
        #expect(added.count >= 3 && added.allSatisfy { $0.utf8.count <= 78 }, "\(added)")
        #expect(Array(out.suffix(raw.count)) == raw, "the original follows unchanged")
        #expect(usesOnly(ending, out))
    }

    @Test(arguments: [
        (ReleaseModifications(addedHeader: .init(name: "X Bad", value: "v")), ReleaseModificationError.Code.invalidHeaderName, "added_header.name"),
        (ReleaseModifications(addedHeader: .init(name: "X-Bad:", value: "v")), .invalidHeaderName, "added_header.name"),
        (ReleaseModifications(addedHeader: .init(name: "", value: "v")), .invalidHeaderName, "added_header.name"),
        (ReleaseModifications(addedHeader: .init(name: "X-Ü", value: "v")), .invalidHeaderName, "added_header.name"),
        (ReleaseModifications(addedHeader: .init(name: "X-A", value: "v\r\nBcc: victim@example.com")), .invalidHeaderValue, "added_header.value"),
        (ReleaseModifications(addedHeader: .init(name: "X-A", value: "nul\u{0}")), .invalidHeaderValue, "added_header.value"),
        (ReleaseModifications(addedHeader: .init(name: "X-A", value: String(repeating: "v", count: 901))), .invalidHeaderValue, "added_header.value"),
        (ReleaseModifications(subjectTag: ""), .invalidSubjectTag, "subject_tag"),
        (ReleaseModifications(subjectTag: "   "), .invalidSubjectTag, "subject_tag"),
        (ReleaseModifications(subjectTag: "[A]\r\nBcc: x@example.com"), .invalidSubjectTag, "subject_tag"),
        (ReleaseModifications(subjectTag: "tab\there"), .invalidSubjectTag, "subject_tag"),
        (ReleaseModifications(subjectTag: String(repeating: "x", count: 101)), .invalidSubjectTag, "subject_tag"),
    ])
    func invalidModificationsNameTheField(_ modifications: ReleaseModifications, _ code: ReleaseModificationError.Code, _ field: String) {
        let raw = "Subject: s\r\n\r\nbody".bytes()
        do {
            _ = try modifications.apply(to: raw)
            Issue.record("accepted \(modifications)")
        } catch {
            #expect(error.code == code)
            #expect(error.field == field)
            #expect(error.reason.hasPrefix(field))
        }
    }

    // MARK: Stripping attachments

    @Test(arguments: LineEnding.allCases)
    func attachmentsAtSeveralLevelsAreReplacedAndTheRestKept(_ ending: LineEnding) throws {
        let raw = Fixtures.nested.bytes(ending)
        let before = MailMessage(parsing: raw)
        let out = try Self.strip.apply(to: raw)
        let after = MailMessage(parsing: out)

        #expect(after.attachments.isEmpty)
        #expect(after.defects == before.defects)
        #expect(usesOnly(ending, out))
        // Same tree: every leaf in the same place; the replaced ones are text/plain notices.
        #expect(after.leafParts.count == before.leafParts.count)
        #expect(after.leafParts.map(\.contentType.mimeType) == ["text/plain", "text/html", "text/plain", "text/plain"])
        for (old, new) in zip(before.leafParts, after.leafParts) where !ReleaseModifications.isStrippedAttachment(old) {
            #expect(old.headers == new.headers)
            #expect(old.rawBody == new.rawBody)
        }
        #expect(after.root.preamble == before.root.preamble)
        #expect(after.root.epilogue == before.root.epilogue)
        #expect(after.headers == before.headers)
        let notices = after.leafParts.map(\.decodedText).filter { $0.contains("was removed") }
        #expect(notices.map { $0.replacing(ending == .crlf ? "\r\n" : "\n", with: " ") } == [
            "The attachment \"logo.png\" (image/png, 8 bytes) was removed from this message on release from quarantine.",
            "The attachment \"report.pdf\" (application/pdf, 9 bytes) was removed from this message on release from quarantine.",
        ])

        // Outside the two replaced parts, the bytes are the original's.
        let original = text(raw)
        let logoStart = original.range(of: "Content-Type: image/png")!.lowerBound
        let pdfStart = original.range(of: "Content-Type: application/pdf")!.lowerBound
        let output = text(out)
        #expect(output.hasPrefix(original[..<logoStart]))
        let tail = original[original.range(of: "JVBERi0xLjQK")!.upperBound...]
        #expect(output.hasSuffix(tail))
        let between = original[original.range(of: "--------------rel89--")!.lowerBound..<pdfStart]
        #expect(output.contains(between))
    }

    @Test func eachNoticeLineIsShortAndHasTheMessagesLineEnd() throws {
        let raw = Fixtures.nested.bytes()
        let out = try Self.strip.apply(to: raw)
        let notices = MailMessage(parsing: out).textBodies.filter { $0.contains("was removed") }
        #expect(notices.count == 2)
        #expect(notices.flatMap { $0.split(separator: "\r\n") }.allSatisfy { $0.utf8.count <= 76 })
        #expect(!text(out).contains("Content-ID: <logo@example.com>"), "fields describing the removed content go")
        #expect(!text(out).contains("iVBORw0KGgo="))
        #expect(text(out).contains("Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\nContent-Disposition: inline\r\n\r\nThe attachment \"logo.png\""))
    }

    @Test func attachedMessageIsReplacedWhole() throws {
        let raw = Fixtures.forwarded.bytes()
        let out = try Self.strip.apply(to: raw)
        let after = MailMessage(parsing: out)
        #expect(after.attachments.isEmpty)
        #expect(after.root.children.count == 2)
        #expect(after.root.children[0].decodedText == "See the forwarded message.")
        #expect(after.root.children[1].decodedText.hasPrefix("The attached message \"invoice.eml\" (message/rfc822, "))
        #expect(!text(out).contains("TVqQ"))
    }

    static let deep = """
        From: a@example.com
        Subject: levels
        MIME-Version: 1.0
        Content-Type: multipart/mixed; boundary="L1"

        --L1
        Content-Type: text/plain

        top text
        --L1
        Content-Type: multipart/mixed; boundary="L2"

        --L2
        Content-Type: text/plain; name="notes.txt"
        Content-Disposition: inline; filename="notes.txt"

        inline text with a name stays
        --L2
        Content-Type: application/zip; name="level2.zip"
        Content-Transfer-Encoding: base64

        UEsDBAoAAAAAAA==
        --L2
        Content-Type: message/rfc822

        From: inner@example.org
        Subject: inner
        MIME-Version: 1.0
        Content-Type: multipart/mixed; boundary="L3"

        --L3
        Content-Type: text/plain

        inner text
        --L3
        Content-Type: text/csv
        Content-Disposition: attachment; filename="level3.csv"

        a,b
        1,2
        --L3--
        --L2--
        --L1
        Content-Type: application/x-msdownload; name="=?UTF-8?B?w7xiZXIuZXhl?="
        Content-Transfer-Encoding: base64

        TVqQAAMAAAAEAAAA
        --L1--

        """

    @Test(arguments: LineEnding.allCases)
    func nestedMultipartsAndAnInlineForwardedMessage(_ ending: LineEnding) throws {
        let raw = Self.deep.bytes(ending)
        let before = MailMessage(parsing: raw)
        #expect(before.attachments.count == 4)
        let out = try Self.strip.apply(to: raw)
        let after = MailMessage(parsing: out)
        #expect(after.defects == before.defects)
        #expect(after.attachments.map(\.filename) == ["notes.txt"], "an inline text part with a name is not stripped")
        let texts = after.textBodies.map { $0.replacing(ending == .crlf ? "\r\n" : "\n", with: " ") }
        #expect(texts.contains { $0.hasPrefix("The attachment \"level2.zip\" (application/zip, 10 bytes) was removed") })
        #expect(texts.contains { $0.hasPrefix("The attachment \"level3.csv\" (text/csv, \(ending == .crlf ? 8 : 7) bytes) was removed") })
        #expect(texts.contains { $0.hasPrefix("The attachment \"über.exe\" (application/x-msdownload, 12 bytes) was removed") })
        #expect(texts.contains("inner text") && texts.contains("top text"))
        // The forwarded message keeps its own header.
        let forwarded = after.allParts.first { $0.contentType.isEncapsulatedMessage }!
        #expect(forwarded.children.first?.headers["subject"] == "inner")
        #expect(usesOnly(ending, out))

        // A non-ASCII filename makes a quoted-printable notice; soft breaks use the message's line end.
        let exe = after.root.children[2]
        #expect(exe.contentTransferEncoding == .quotedPrintable)
        #expect(exe.contentType.charset == "utf-8")
        #expect(!exe.defects.contains(.badEncoding))
    }

    @Test(arguments: LineEnding.allCases)
    func messageThatIsOnlyAnAttachment(_ ending: LineEnding) throws {
        let raw = """
            From: scanner@example.com
            To: b@example.net
            Subject: scan
            Content-Type: application/pdf; name="scan.pdf"
            Content-Disposition: attachment; filename="scan.pdf"
            Content-Transfer-Encoding: base64
            Content-Description: a scan

            JVBERi0xLjQKJeLjz9MK

            """.bytes(ending)
        let out = try Self.strip.apply(to: raw)
        let message = MailMessage(parsing: out)
        #expect(message.headers.map(\.name) == ["MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
                                                 "From", "To", "Subject"])
        #expect(message.root.contentType.mimeType == "text/plain")
        #expect(message.attachments.isEmpty)
        #expect(message.textBodies.first?.replacing(ending == .crlf ? "\r\n" : "\n", with: " ")
            == "The attachment \"scan.pdf\" (application/pdf, 15 bytes) was removed from this message on release from quarantine. ")
        #expect(message.defects.isEmpty)
        #expect(usesOnly(ending, out))
    }

    @Test func nonMIMEMessagesAreUnchanged() throws {
        for raw in ["From: a@example.com\r\nSubject: plain\r\n\r\nJust text.\r\n".bytes(),
                    "Subject: x\n\nbody with Content-Disposition: attachment inside\n".bytes(.lf),
                    [UInt8](), "no header at all".bytes()] {
            #expect(try Self.strip.apply(to: raw) == raw)
        }
        #expect(try Self.strip.apply(to: Fixtures.missingClose.bytes()) == Fixtures.missingClose.bytes(), "no attachments")
    }

    @Test func malformedMultipartsAreLeftOrHandled() throws {
        let notFound = """
            Subject: x
            Content-Type: multipart/mixed; boundary="nowhere"

            --elsewhere
            Content-Type: application/pdf; name="a.pdf"

            data
            """.bytes()
        #expect(try Self.strip.apply(to: notFound) == notFound, "no tree to strip from: unchanged")

        let noBoundary = "Subject: x\r\nContent-Type: multipart/mixed\r\n\r\n--b\r\nContent-Type: application/pdf; name=a.pdf\r\n\r\nx\r\n".bytes()
        #expect(try Self.strip.apply(to: noBoundary) == noBoundary)

        // Cut off inside an attachment: the attachment still goes.
        let truncated = """
            Subject: cut
            Content-Type: multipart/mixed; boundary=XYZ

            --XYZ
            Content-Type: text/plain

            first
            --XYZ
            Content-Type: application/octet-stream; name="a.bin"
            Content-Transfer-Encoding: base64

            AAAA
            """.bytes()
        let out = try Self.strip.apply(to: truncated)
        let message = MailMessage(parsing: out)
        #expect(message.attachments.isEmpty)
        #expect(message.root.children.map(\.decodedText) == ["first", "The attachment \"a.bin\" (application/octet-stream, 3 bytes) was removed from\r\nthis message on release from quarantine.\r\n"])
    }

    @Test func beyondTheParsersLimitsStrippingIsRefused() throws {
        let parts = (0..<5).map { "--b\r\nContent-Type: application/pdf; name=\"\($0).pdf\"\r\n\r\nx\r\n" }.joined()
        let raw = "Subject: many\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\(parts)--b--\r\n".bytes(.lf)
        do {
            _ = try Self.strip.apply(to: raw, limits: .init(maxParts: 3))
            Issue.record("stripped only some")
        } catch {
            #expect(error.code == .structureTooComplex)
            #expect(error.field == "strip_attachments")
            #expect(error.reason.contains("too many MIME parts"))
        }
        let stripped = MailMessage(parsing: try Self.strip.apply(to: raw))
        #expect(stripped.attachments.isEmpty && stripped.root.children.count == 5)
    }

    /// Every prefix of a real-shaped message: never a crash, always re-parseable,
    /// and without attachments when the parser found none it could not strip.
    @Test(arguments: [Fixtures.nested, Fixtures.forwarded, ReleaseModificationsTests.deep])
    func everyTruncationIsHandled(_ fixture: String) throws {
        let all = ReleaseModifications(subjectTag: "[RELEASED ✓]", addedHeader: .init(name: "X-R", value: "yes"), stripAttachments: true)
        let raw = fixture.bytes()
        for length in stride(from: 0, through: raw.count, by: 3) {
            let prefix = Array(raw.prefix(length))
            let out = try all.apply(to: prefix)
            let message = MailMessage(parsing: out)
            #expect(message.attachments.allSatisfy { !ReleaseModifications.isStrippedAttachment($0) }, "length \(length)")
            #expect(message.headers["x-r"] == "yes")
        }
    }

    // MARK: Combined, empty, Codable

    @Test(arguments: LineEnding.allCases)
    func allThreeTogether(_ ending: LineEnding) throws {
        let raw = Fixtures.nested.bytes(ending)
        let all = ReleaseModifications(subjectTag: "[RELEASED]", addedHeader: .init(name: "X-Lazaret-Released", value: "by api:alice"),
                                       stripAttachments: true)
        let out = try all.apply(to: raw)
        let message = MailMessage(parsing: out)
        #expect(message.subject == "[RELEASED] Report Übersicht")
        #expect(message.headers.fields.first == HeaderField(name: "X-Lazaret-Released", rawValue: "by api:alice"))
        #expect(message.attachments.isEmpty)
        #expect(message.defects == MailMessage(parsing: raw).defects)
        #expect(usesOnly(ending, out))
        // The same as one at a time.
        let stepwise = try ReleaseModifications(addedHeader: all.addedHeader).apply(
            to: Self.tag.apply(to: Self.strip.apply(to: raw)))
        #expect(out == stepwise)
    }

    @Test func emptyModificationsChangeNothing() throws {
        let none = ReleaseModifications()
        #expect(none.isEmpty)
        #expect(!Self.tag.isEmpty && !Self.strip.isEmpty)
        #expect(!ReleaseModifications(addedHeader: .init(name: "X", value: "")).isEmpty)
        let raw = Fixtures.nested.bytes()
        #expect(try none.apply(to: raw) == raw)
    }

    @Test func codableUsesTheAPIsKeys() throws {
        let all = ReleaseModifications(subjectTag: "[RELEASED]", addedHeader: .init(name: "X-A", value: "b"), stripAttachments: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        #expect(String(decoding: try encoder.encode(all), as: UTF8.self)
            == #"{"added_header":{"name":"X-A","value":"b"},"strip_attachments":true,"subject_tag":"[RELEASED]"}"#)
        #expect(try JSONDecoder().decode(ReleaseModifications.self, from: encoder.encode(all)) == all)
        #expect(try JSONDecoder().decode(ReleaseModifications.self, from: Data("{}".utf8)) == ReleaseModifications())
        #expect(try JSONDecoder().decode(ReleaseModifications.self, from: Data(#"{"subject_tag":"[R]"}"#.utf8))
            == ReleaseModifications(subjectTag: "[R]"))
    }

    @Test(arguments: [(0, "0 bytes"), (1, "1 byte"), (1023, "1023 bytes"), (1024, "1 KB"), (12 * 1024 + 100, "12 KB"),
                      (1024 * 1024 - 1, "1024 KB"), (1024 * 1024, "1.0 MB"), (3_565_158, "3.4 MB")])
    func sizes(_ size: Int, _ expected: String) {
        #expect(AttachmentStripper.sizeText(size) == expected)
    }

    @Test func base64AndQuotedPrintableEncodersRoundTrip() {
        for input in ["", "f", "fo", "foo", "foob", "fooba", "foobar", "Grüße ✓"] {
            let bytes = Array(input.utf8)
            #expect(Base64.decode(Array(Base64.encode(bytes).utf8)) == bytes)
        }
        #expect(Base64.encode(Array("foobar".utf8)) == "Zm9vYmFy")
        let line = "The attachment \"" + String(repeating: "ü", count: 40) + "= end \""
        let encoded = QuotedPrintable.encodeLine(line, lineEnding: [0x0D, 0x0A])
        #expect(text(encoded).split(separator: "\r\n").allSatisfy { $0.utf8.count <= 76 })
        #expect(QuotedPrintable.decode(encoded) == Array(line.utf8))
        encoded.withUnsafeBufferPointer { #expect(QuotedPrintable.isValid($0)) }
    }
}
