import Testing
@testable import MailMessage

@Suite struct ContentTypeTests {
    @Test(arguments: [
        ("text/plain", "text/plain", [String: String]()),
        ("TEXT/HTML; CHARSET=\"UTF-8\"", "text/html", ["charset": "UTF-8"]),
        ("multipart/mixed;\r\n boundary=\"----=_Part_1_2.3\"", "multipart/mixed", ["boundary": "----=_Part_1_2.3"]),
        ("text/plain; charset=us-ascii (Plain text)", "text/plain", ["charset": "us-ascii"]),
        ("(comment) text / plain ; format=flowed", "text/plain", ["format": "flowed"]),
        ("text/html charset=utf-8", "text/html", ["charset": "utf-8"]),  // missing ";"
        ("application/octet-stream; name=my file.pdf", "application/octet-stream", ["name": "my file.pdf"]),
        ("application/x-stuff; title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A",
         "application/x-stuff", ["title": "This is ***fun***"]),
        ("message/external-body; access-type=URL; URL*0=\"ftp://\"; URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar\"",
         "message/external-body", ["access-type": "URL", "url": "ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar"]),
        ("text/plain; a=\"quoted \\\"inner\\\" text\"; b=2", "text/plain", ["a": "quoted \"inner\" text", "b": "2"]),
        ("text/plain; a=\"unterminated", "text/plain", ["a": "unterminated"]),
    ])
    func parsesContentType(_ value: String, _ mimeType: String, _ parameters: [String: String]) throws {
        let type = try #require(ContentType(parsing: value))
        #expect(type.mimeType == mimeType)
        #expect(type.parameters == parameters)
    }

    @Test(arguments: ["", "text", "/plain", "text/", ";charset=utf-8"])
    func rejectsInvalidContentType(_ value: String) {
        #expect(ContentType(parsing: value) == nil)
    }

    /// Attachment names as real clients send them.
    @Test(arguments: [
        // RFC 2047 inside the quoted value (Outlook, Gmail).
        ("Content-Type: application/pdf\nContent-Disposition: attachment; filename=\"=?UTF-8?B?w5xiZXJzaWNodC5wZGY=?=\"", "Übersicht.pdf"),
        ("Content-Type: text/plain\nContent-Disposition: attachment;\n filename=\"=?iso-8859-1?Q?Gr=FC=DFe.txt?=\"", "Grüße.txt"),
        // RFC 2231 continuations with charset and percent-encoding (Thunderbird).
        ("Content-Type: application/pdf\nContent-Disposition: attachment;\n filename*0*=utf-8''%C3%9Cber;\n filename*1*=sicht%20;\n filename*2=\"2024.pdf\"", "Übersicht 2024.pdf"),
        ("Content-Type: application/pdf\nContent-Disposition: attachment; filename*=iso-8859-1'de'Gr%FC%DFe.txt", "Grüße.txt"),
        // Sections out of order are put in order (RFC 2231 §3).
        ("Content-Type: application/pdf\nContent-Disposition: attachment; filename*1=\"b.txt\"; filename*0=\"a\"", "ab.txt"),
        // The RFC 2231 form wins over the plain fallback.
        ("Content-Type: text/plain\nContent-Disposition: attachment; filename=\"fallback.txt\"; filename*=UTF-8''real%20name.txt", "real name.txt"),
        // name= on Content-Type only (old clients, many phishing kits).
        ("Content-Type: application/octet-stream; name=\"invoice.zip\"", "invoice.zip"),
        ("Content-Type: application/octet-stream; name*=UTF-8''%D1%84%D0%B0%D0%B9%D0%BB.exe", "файл.exe"),
        // Content-Disposition filename wins over Content-Type name.
        ("Content-Type: application/octet-stream; name=\"shown.pdf\"\nContent-Disposition: attachment; filename=\"real.exe\"", "real.exe"),
        // Disposition with parameters but no type.
        ("Content-Type: application/octet-stream\nContent-Disposition: filename=\"bare.bin\"", "bare.bin"),
        ("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"  \"", nil),
    ] as [(String, String?)])
    func attachmentFilenames(_ partHeader: String, _ expected: String?) {
        let message = parse("""
            Content-Type: multipart/mixed; boundary=b

            --b
            \(partHeader)

            data
            --b--

            """)
        #expect(message.defects == [])
        let part = message.leafParts[0]
        #expect(part.filename == expected)
        #expect(message.attachments.count == (expected == nil && part.contentDisposition?.isAttachment != true ? 0 : 1))
    }

    @Test func dispositionInlineWithoutFilenameIsNotAnAttachment() {
        let message = parse("""
            Content-Type: multipart/mixed; boundary=b

            --b
            Content-Type: text/plain
            Content-Disposition: inline

            hello
            --b
            Content-Type: application/octet-stream
            Content-Disposition: ATTACHMENT

            data
            --b--

            """)
        #expect(message.leafParts.map(\.isAttachment) == [false, true])
        #expect(message.attachments.map(\.filename) == [nil])
    }

    @Test(arguments: [
        ("base64", ContentTransferEncoding.base64), (" Base64 ", .base64), ("QUOTED-PRINTABLE", .quotedPrintable),
        ("7bit", .sevenBit), ("8BIT", .eightBit), ("binary", .binary), ("x-uuencode", .other("x-uuencode")),
        ("base64; foo", .base64),
    ])
    func transferEncodingNames(_ value: String, _ expected: ContentTransferEncoding) {
        #expect(ContentTransferEncoding(value) == expected)
    }

    @Test func unknownTransferEncodingIsRecorded() {
        let message = parse("Content-Type: application/octet-stream\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 a\n")
        #expect(message.defects == [.unknownTransferEncoding])
        #expect(message.root.decodedBody == Array("begin 644 a\r\n".utf8))
    }
}
