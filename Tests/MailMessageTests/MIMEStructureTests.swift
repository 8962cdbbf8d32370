import Testing
@testable import MailMessage

@Suite struct MIMEStructureTests {
    @Test(arguments: LineEnding.allCases)
    func nestedMixedAlternativeRelated(_ ending: LineEnding) {
        let message = parse(Fixtures.nested, ending)
        #expect(message.defects == [])
        #expect(!message.isMalformed)
        #expect(message.subject == "Report Übersicht")
        #expect(message.headers["from"] == "Alice Müller <alice@example.com>")
        #expect(message.root.contentType.mimeType == "multipart/mixed")
        #expect(message.root.children.map(\.contentType.mimeType) == ["multipart/alternative", "application/pdf"])
        let alternative = message.root.children[0]
        #expect(alternative.children.map(\.contentType.mimeType) == ["text/plain", "multipart/related"])
        #expect(alternative.children[1].children.map(\.contentType.mimeType) == ["text/html", "image/png"])
        #expect(message.leafParts.map(\.contentType.mimeType) == ["text/plain", "text/html", "image/png", "application/pdf"])
        #expect(message.allParts.count == 7)
        #expect(message.attachments.map(\.filename) == ["logo.png", "report.pdf"])
        #expect(message.attachments.map(\.decodedBody) == [[0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], Array("%PDF-1.4\n".utf8)])
        #expect(message.attachments.map(\.decodedSize) == [8, 9])
        #expect(message.attachments[0].contentDisposition?.isInline == true)
        #expect(message.attachments[1].contentDisposition?.isAttachment == true)

        // The line break before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
        let plain = message.leafParts[0]
        #expect(plain.contentTransferEncoding == .quotedPrintable)
        let expectedPlain = "Hello Bob, the report is at https://example.com/report?id=42&x=1.\nGrüße, Alice\n"
        #expect(plain.decodedText == (ending == .crlf ? expectedPlain.replacing("\n", with: "\r\n") : expectedPlain))
        #expect(message.textBodies.count == 2)
        #expect(message.textBodies[1].hasPrefix("<html><body><p>Hello Bob"))
        #expect(text(message.root.preamble) == "This is a multi-part message in MIME format.")
        #expect(text(message.root.epilogue).hasPrefix("Epilogue that no client shows."))
        #expect(!message.isEncrypted)
    }

    @Test(arguments: LineEnding.allCases)
    func missingClosingBoundaryKeepsBothParts(_ ending: LineEnding) {
        let message = parse(Fixtures.missingClose, ending)
        #expect(message.defects == [.missingClosingBoundary])
        #expect(!message.isMalformed, "a truncated message is common and unambiguous")
        #expect(message.root.children.count == 2)
        #expect(message.textBodies == ["first", "second, cut off here"])
    }

    @Test(arguments: LineEnding.allCases)
    func missingBoundaryParameterIsALeaf(_ ending: LineEnding) {
        let message = parse(Fixtures.missingBoundaryParameter, ending)
        #expect(message.defects == [.missingBoundary])
        #expect(message.isMalformed)
        #expect(message.root.children.isEmpty)
        #expect(message.leafParts.count == 1)
        #expect(text(message.root.rawBody).hasPrefix("--XYZ"))
    }

    @Test func boundaryNeverInBody() {
        let message = parse(Fixtures.boundaryNotFound)
        #expect(message.defects == [.boundaryNotFound])
        #expect(message.isMalformed)
        #expect(message.root.children.isEmpty)
    }

    @Test(arguments: LineEnding.allCases)
    func preambleAndEpilogueAreNotParts(_ ending: LineEnding) {
        let message = parse(Fixtures.preambleEpilogue, ending)
        #expect(message.defects == [])
        let newline = ending == .crlf ? "\r\n" : "\n"
        #expect(text(message.root.preamble) == "preamble line 1\(newline)preamble line 2")
        #expect(text(message.root.epilogue).hasPrefix("epilogue line\(newline)--b1"))
        #expect(message.textBodies == ["part one", "part two"])
    }

    @Test func delimiterMustBeAWholeLine() {
        // "--b1x" and "--b1 garbage" are not delimiters of boundary "b1"; trailing white space is allowed.
        let message = parse("""
            Content-Type: multipart/mixed; boundary=b1

            --b1  \t
            Content-Type: text/plain

            --b1x is text
            --b1 garbage is text
             --b1 indented is text
            --b1--

            """)
        #expect(message.defects == [])
        #expect(message.root.children.count == 1)
        #expect(message.textBodies == ["--b1x is text\r\n--b1 garbage is text\r\n --b1 indented is text"])
    }

    @Test func emptyPartsAndEmptyBody() {
        let message = parse("""
            Content-Type: multipart/mixed; boundary=e

            --e
            --e

            --e--
            """)
        #expect(message.root.children.count == 2)
        #expect(message.root.children.allSatisfy { $0.rawBody.isEmpty && $0.headers.isEmpty })
        #expect(message.defects == [])
    }

    @Test func digestPartsDefaultToMessages() {
        let message = parse(Fixtures.digest)
        #expect(message.defects == [])
        #expect(message.root.children.map(\.contentType.mimeType) == ["message/rfc822", "message/rfc822"])
        #expect(message.root.children.map { $0.children.first?.headers["subject"] } == ["first", "second"])
        #expect(message.textBodies == ["one", "two"])
    }

    @Test(arguments: LineEnding.allCases)
    func attachmentInsideForwardedMessage(_ ending: LineEnding) throws {
        let message = parse(Fixtures.forwarded, ending)
        #expect(message.defects == [])
        let forwarded = message.root.children[1]
        #expect(forwarded.contentType.mimeType == "message/rfc822")
        #expect(forwarded.filename == "invoice.eml")
        let inner = try #require(forwarded.children.first)
        #expect(forwarded.children.count == 1)
        #expect(inner.headers["subject"] == "Rechnung für Mai")
        #expect(inner.children.count == 2)
        #expect(message.leafParts.map(\.contentType.mimeType) == ["text/plain", "text/html", "application/octet-stream"])
        #expect(message.attachments.map(\.filename) == ["invoice.pdf.exe"])
        #expect(message.attachments[0].decodedBody.prefix(2) == [0x4D, 0x5A])  // "MZ"
        #expect(message.urls == ["http://pay.bad.example/x"])
    }

    @Test func base64EncodedForwardedMessageIsStillParsed() throws {
        let inner = """
            Subject: hidden
            Content-Type: multipart/mixed; boundary=i

            --i
            Content-Type: application/zip; name="payload.zip"

            PK
            --i--

            """.bytes()
        let encoded = base64(inner)
        let message = parse("""
            Content-Type: multipart/mixed; boundary=o

            --o
            Content-Type: message/rfc822
            Content-Transfer-Encoding: base64

            \(encoded)
            --o--

            """)
        #expect(message.defects == [.encodedCompositePart])
        #expect(!message.isMalformed)
        #expect(message.attachments.map(\.filename) == ["payload.zip"])
        #expect(message.root.children[0].children.first?.headers["subject"] == "hidden")
    }

    @Test func nestedEncodedMessagesStopAtTheDecodeBudget() {
        // Each level is a base64 message/rfc822 holding the previous one: decoding them
        // all would take about 3x the message's size; the parser allows 2x.
        var message = "Subject: level 0\nContent-Type: text/plain\n\ninnermost\n".bytes(.lf)
        for level in 1...8 {
            message = "Subject: level \(level)\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n".bytes(.lf)
                + Array(base64(message).utf8)
        }
        let parsed = MailMessage(parsing: message)
        #expect(parsed.defects.contains(.decodeLimitExceeded))
        #expect(parsed.isMalformed)
        let decodedLevels = parsed.allParts.count - 1
        #expect(decodedLevels >= 1 && decodedLevels < 8)
    }

    @Test func defectsAreListedInDocumentOrderOncePerMessage() {
        let message = MailMessage(parsing: Array("Subject: Grüße\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n".utf8)
            + Array("Content-Transfer-Encoding: base64\r\n\r\n!!!\r\n--o\r\nContent-Transfer-Encoding: base64\r\n\r\n???\r\n".utf8))
        #expect(message.defects == [.eightBitInHeader, .missingClosingBoundary, .badEncoding])
        #expect(message.root.defects == [.eightBitInHeader, .missingClosingBoundary])
        #expect(message.root.children.map(\.defects) == [[.badEncoding], [.badEncoding]])
    }

    @Test func defaultContentTypeIsTextPlain() {
        let message = parse("From: a@example.com\n\nhello\n")
        #expect(message.root.contentType == .textPlain)
        #expect(message.root.contentTransferEncoding == .sevenBit)
        #expect(message.textBodies == ["hello\r\n"])
        #expect(message.leafParts.count == 1)
        #expect(message.defects == [])
    }

    @Test func invalidContentTypeFallsBackToTextPlain() {
        let message = parse("Content-Type: garbage\n\nhello")
        #expect(message.root.contentType == .textPlain)
        #expect(message.defects == [.invalidContentType])
        #expect(!message.isMalformed)
    }

    @Test func duplicateContentTypeUsesTheFirstAndIsSevere() {
        let message = parse("""
            Content-Type: text/plain
            Content-Type: multipart/mixed; boundary=x

            --x
            hidden
            --x--
            """)
        #expect(message.root.contentType.mimeType == "text/plain")
        #expect(message.defects == [.duplicateMIMEHeader])
        #expect(message.isMalformed)
    }

    @Test func nestingDeeperThanTheLimitStopsAtTheLimit() {
        var body = ""
        for level in 0..<60 {
            body += "Content-Type: multipart/mixed; boundary=\"b\(level)\"\n\n--b\(level)\n"
        }
        body += "Content-Type: text/plain\n\ndeepest\n"
        let message = parse(body, limits: .init(maxNestingDepth: 20))
        #expect(message.defects.contains(.nestingTooDeep))
        #expect(message.isMalformed)
        #expect(depth(message.root) == 20)
    }

    @Test func tooManyPartsStopsSplitting() {
        var body = "Content-Type: multipart/mixed; boundary=p\n\n"
        for index in 0..<50 { body += "--p\n\npart \(index)\n" }
        body += "--p--\n"
        let message = parse(body, limits: .init(maxParts: 10))
        #expect(message.defects == [.tooManyParts])
        #expect(message.allParts.count == 10)
        #expect(message.root.children.count == 9)
        let unlimited = parse(body)
        #expect(unlimited.allParts.count == 51)
        #expect(unlimited.defects == [])
    }

    @Test func mboxFromLineIsSkipped() {
        let message = parse("From alice@example.com Tue Jun  4 09:00:00 2024\nSubject: mbox\n\nbody")
        #expect(message.subject == "mbox")
        #expect(message.defects == [])
    }
}

func depth(_ part: MIMEPart) -> Int {
    part.children.map { depth($0) + 1 }.max() ?? 0
}

func base64(_ bytes: [UInt8]) -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    var output: [UInt8] = []
    var index = 0
    while index < bytes.count {
        let chunk = Array(bytes[index..<min(index + 3, bytes.count)])
        let value = chunk.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (16 - 8 * UInt32($1.offset)) }
        for position in 0..<4 {
            output.append(position <= chunk.count ? alphabet[Int(value >> (18 - 6 * UInt32(position)) & 63)] : UInt8(ascii: "="))
        }
        index += 3
        if index % 57 == 0 { output.append(0x0A) }
    }
    return String(decoding: output, as: UTF8.self)
}
