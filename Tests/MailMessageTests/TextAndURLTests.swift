import Testing
@testable import MailMessage

@Suite struct TextAndURLTests {
    static func message(charset: String?, encoding: String, body: [UInt8], type: String = "text/plain") -> MailMessage {
        var header = "Content-Type: \(type)"
        if let charset { header += "; charset=\(charset)" }
        header += "\r\nContent-Transfer-Encoding: \(encoding)\r\n\r\n"
        return MailMessage(parsing: Array(header.utf8) + body)
    }

    @Test(arguments: [
        ("utf-8", "8bit", Array("Grüße ✓".utf8), "Grüße ✓"),
        ("UTF8", "8bit", Array("Grüße".utf8), "Grüße"),
        ("iso-8859-1", "8bit", [0x47, 0x72, 0xFC, 0xDF, 0x65], "Grüße"),
        ("\"ISO-8859-1\"", "8bit", [0xE9, 0x74, 0xE9], "été"),
        ("windows-1252", "8bit", [0x80, 0x20, 0x93, 0x71, 0x94, 0x20, 0x96], "€ “q” –"),
        ("iso-8859-15", "8bit", [0xA4, 0x20, 0xBD], "€ œ"),
        ("us-ascii", "7bit", Array("plain".utf8), "plain"),
        ("us-ascii", "8bit", Array("mislabelled Grüße".utf8), "mislabelled Grüße"),
        (nil, "8bit", [0x47, 0x72, 0xFC, 0xDF, 0x65], "Grüße"),        // no charset: US-ASCII, 8-bit read as Latin-1
        ("utf-8", "quoted-printable", Array("Gr=C3=BC=C3=9Fe".utf8), "Grüße"),
        ("iso-8859-1", "base64", Array("R3L832U=".utf8), "Grüße"),
        ("x-unknown", "8bit", [0x61, 0xFF, 0x62], "a\u{FFFD}b"),       // unknown charset: lossy UTF-8
        ("koi8-r", "8bit", Array("ascii part".utf8), "ascii part"),
    ] as [(String?, String, [UInt8], String)])
    func textInCharsets(_ charset: String?, _ encoding: String, _ body: [UInt8], _ expected: String) {
        let message = Self.message(charset: charset, encoding: encoding, body: body)
        #expect(message.textBodies == [expected])
        #expect(message.defects.filter(\.isSevere) == [])
    }

    @Test func onlyTextLeavesAreTextBodies() {
        let message = parse(Fixtures.signedOnly)
        #expect(message.textBodies == ["signed text"])
        #expect(!message.isEncrypted)
    }

    @Test func urlsFromPlainAndHTML() {
        let message = parse("""
            Content-Type: multipart/alternative; boundary=a

            --a
            Content-Type: text/plain; charset=utf-8

            Visit https://a.example/x, or (see http://b.example/y). <https://c.example/z>
            Wiki: https://en.wikipedia.org/wiki/Foo_(bar) and HTTPS://D.example/Q?a=1&amp;b=2!
            Not URLs: http:// alone, ftp://e.example/, mailto:f@example.com, xhttps:/g.example
            Again https://a.example/x
            --a
            Content-Type: text/html; charset=utf-8
            Content-Transfer-Encoding: quoted-printable

            <a href=3D"https://a.example/x">x</a><a href=3D'http://h.example/p?q=3D1'>h</a>=
            <img src=3Dhttp://i.example/pixel.gif>https://j.example/split=
            /path
            --a--

            """)
        #expect(message.urls == [
            "https://a.example/x", "http://b.example/y", "https://c.example/z",
            "https://en.wikipedia.org/wiki/Foo_(bar)", "https://D.example/Q?a=1&b=2",
            "http://h.example/p?q=1", "http://i.example/pixel.gif", "https://j.example/split/path",
        ])
    }

    @Test func urlCountIsBounded() {
        let body = (0..<3000).map { "https://host\($0).example/\n" }.joined()
        let message = parse("Content-Type: text/plain\n\n" + body, limits: .init(maxURLs: 1000))
        #expect(message.urls.count == 1000)
        #expect(message.urls.last == "https://host999.example/")
        #expect(Set(message.urls).count == 1000)
    }

    @Test func urlsInForwardedMessagesAndNonTextPartsIgnored() {
        let message = parse(Fixtures.forwarded)
        #expect(message.urls == ["http://pay.bad.example/x"])
        let binary = parse("Content-Type: application/octet-stream\n\nhttps://not-text.example/")
        #expect(binary.urls == [])
    }
}

@Suite struct EncryptionTests {
    @Test(arguments: [
        ("multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=x",
         "--x\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n--x\nContent-Type: application/octet-stream\n\n-----BEGIN PGP MESSAGE-----\n--x--\n", true),
        ("application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m", "MIAGCSqGSIb3DQEHA6CAMIACAQAx", true),
        ("application/x-pkcs7-mime; name=smime.p7m", "MIAGCSqGSIb3DQEHA6CAMIACAQAx", true),
        ("application/pkcs7-mime; smime-type=authEnveloped-data", "MIAG", true),
        ("application/pkcs7-mime; smime-type=signed-data; name=smime.p7m", "MIAGCSqGSIb3DQEHAqCAMIACAQEx", false),
        ("text/plain", "-----BEGIN PGP MESSAGE-----\nhQEMA1234\n-----END PGP MESSAGE-----\n", true),
        ("text/plain", "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nhello\n", false),
        ("text/plain", "an ordinary message", false),
        ("multipart/signed; protocol=\"application/pgp-signature\"; boundary=s",
         "--s\nContent-Type: text/plain\n\nhi\n--s\nContent-Type: application/pgp-signature\n\n-----BEGIN PGP SIGNATURE-----\n--s--\n", false),
    ])
    func detectsEncryption(_ contentType: String, _ body: String, _ encrypted: Bool) {
        let message = parse("From: a@example.com\nContent-Type: \(contentType)\n\n\(body)")
        #expect(message.isEncrypted == encrypted)
    }

    @Test func encryptedAttachmentInsideAForwardedMessage() {
        let message = parse("""
            Content-Type: multipart/mixed; boundary=o

            --o
            Content-Type: message/rfc822

            Content-Type: multipart/mixed; boundary=i

            --i
            Content-Type: application/octet-stream; name="secret.asc"
            Content-Transfer-Encoding: base64

            LS0tLS1CRUdJTiBQR1AgTUVTU0FHRS0tLS0tCg==
            --i--
            --o--
            """)
        #expect(message.isEncrypted)
    }
}
