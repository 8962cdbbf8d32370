import Testing
@testable import MailMessage

@Suite struct BodyDecodingTests {
    static func leaf(_ encoding: String, _ body: String, type: String = "application/octet-stream") -> MailMessage {
        parse("Content-Type: \(type)\nContent-Transfer-Encoding: \(encoding)\n\n" + body)
    }

    @Test(arguments: [
        // (body, decoded, valid)
        ("SGVsbG8gd29ybGQ=", "Hello world", true),
        ("SGVs\nbG8g\nd29y\nbGQ=\n", "Hello world", true),
        ("  SGVsbG8g\n\td29ybGQ=  \n", "Hello world", true),
        ("SGVsbG8gd29ybA==", "Hello worl", true),
        ("SGVs*bG8g!d29y\nbGQ=", "Hello world", false),          // garbage between quanta
        ("SGVsbG8gd29ybGQ", "Hello world", false),               // missing padding
        ("SGVsbG8=d29ybGQ=", "Helloworld", false),               // data after padding: decoded anyway
        ("SGVsbG8gd29ybGQ=\n-- \nsignature", "Hello world\u{FFFD}", false),  // U+FFFD: prefix only
        ("S", "", false),                                        // a lone sextet
        ("", "", true),
    ])
    func base64(_ body: String, _ decoded: String, _ valid: Bool) {
        let message = Self.leaf("base64", body)
        let part = message.root
        #expect(message.defects == (valid ? [] : [.badEncoding]))
        #expect(message.isMalformed == !valid)
        if decoded.contains("\u{FFFD}") {
            #expect(text(part.decodedBody).hasPrefix(decoded.prefix { $0 != "\u{FFFD}" }))
        } else {
            #expect(text(part.decodedBody) == decoded)
        }
        #expect(part.decodedSize == part.decodedBody.count)
    }

    @Test func base64MatchesAReferenceOnAllByteValues() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 / 256) }
        for count in [0, 1, 2, 3, 4, 5, 254, 255, 256, 1000] {
            let input = Array(bytes.prefix(count))
            let encoded = Array(MailMessageTests.base64(input).utf8)
            #expect(Base64.decode(encoded) == input, "length \(count)")
            #expect(encoded.withUnsafeBufferPointer { Base64.isValid($0) })
            #expect(encoded.withUnsafeBufferPointer { Base64.decodedCount($0) } == count)
        }
    }

    @Test(arguments: [
        // (body, decoded, valid)
        ("Hello =\nWorld=21 caf=C3=A9\nline2   \nend", "Hello World! café\r\nline2\r\nend", true),
        ("soft break with trailing space = \nnext", "soft break with trailing space next", true),
        ("lower=c3=a9 hex", "loweré hex", true),
        ("=3D=3d", "==", true),
        ("a = b", "a = b", false),           // a stray "=" is kept
        ("bad =ZZ hex", "bad =ZZ hex", false),
        ("ends with =", "ends with ", true),  // a soft break at the very end
        ("tab\tinside and trailing\t\nx", "tab\tinside and trailing\r\nx", true),
    ])
    func quotedPrintable(_ body: String, _ decoded: String, _ valid: Bool) {
        let message = Self.leaf("quoted-printable", body, type: "text/plain; charset=utf-8")
        #expect(message.defects == (valid ? [] : [.badEncoding]))
        #expect(message.root.decodedText == decoded)
        #expect(message.root.decodedSize == message.root.decodedBody.count)
    }

    @Test func sevenBitBodyIsReturnedAsIs() {
        let message = Self.leaf("7bit", "line1\nline2=41")
        #expect(message.root.decodedBody == Array("line1\r\nline2=41".utf8))
        #expect(message.root.decodedSize == 15)
        #expect(message.defects == [])
    }

    @Test func rawBodySharesTheInput() {
        let raw = Fixtures.nested.bytes()
        let message = MailMessage(parsing: raw)
        let pdf = message.attachments[1]
        #expect(Array(raw[pdf.rawBody.indices]) == Array(pdf.rawBody), "slices index into the original message")
        #expect(text(pdf.rawBody) == "JVBERi0xLjQK")
    }
}
