import Testing
@testable import CPQ

@Suite struct CPQXTextTests {
    static let encodings: [(String, String)] = [
        ("", ""),
        ("block_exe", "block_exe"),
        ("250 2.0.0 Ok", "250+202.0.0+20Ok"),
        ("a+b=c", "a+2Bb+3Dc"),
        ("tab\there", "tab+09here"),
        ("caf\u{E9}", "caf+C3+A9"),
        ("\u{1F600}", "+F0+9F+98+80"),
        ("!~\"#", "!~\"#"),
        ("\u{7F}", "+7F"),
        ("Named Policy", "Named+20Policy"),
        ("<a@b>", "<a@b>"),
    ]

    @Test(arguments: encodings)
    func encodeAndDecode(_ text: String, _ xtext: String) throws {
        #expect(CPQXText.encode(text) == xtext)
        #expect(try CPQXText.decode(xtext, maxLength: 512) == text)
    }

    @Test func malformedXText() {
        #expect(throws: CPQXText.DecodeError.invalidHexEscape(offset: 1)) { try CPQXText.decode("a+", maxLength: 10) }
        #expect(throws: CPQXText.DecodeError.invalidHexEscape(offset: 1)) { try CPQXText.decode("a+2", maxLength: 10) }
        #expect(throws: CPQXText.DecodeError.invalidHexEscape(offset: 0)) { try CPQXText.decode("+2b", maxLength: 10) }
        #expect(throws: CPQXText.DecodeError.invalidHexEscape(offset: 0)) { try CPQXText.decode("+G0", maxLength: 10) }
        #expect(throws: CPQXText.DecodeError.invalidHexEscape(offset: 3)) { try CPQXText.decode("+41+-1", maxLength: 10) }
        #expect(throws: CPQXText.DecodeError.invalidCharacter(offset: 1)) { try CPQXText.decode("a b", maxLength: 10) }
        #expect(throws: CPQXText.DecodeError.invalidCharacter(offset: 1)) { try CPQXText.decode("a=b", maxLength: 10) }
        #expect(throws: CPQXText.DecodeError.invalidCharacter(offset: 0)) { try CPQXText.decode("\u{E9}", maxLength: 10) }
        #expect(throws: CPQXText.DecodeError.invalidCharacter(offset: 0)) { try CPQXText.decode("\t", maxLength: 10) }
        #expect(throws: CPQXText.DecodeError.invalidUTF8) { try CPQXText.decode("+C3", maxLength: 10) }
        #expect(throws: CPQXText.DecodeError.invalidUTF8) { try CPQXText.decode("+C0+80", maxLength: 10) }
        #expect(throws: CPQXText.DecodeError.invalidUTF8) { try CPQXText.decode("+ED+A0+80", maxLength: 10) }
    }

    @Test func limitsCountDecodedOctets() throws {
        #expect(try CPQXText.decode(String(repeating: "+41", count: 4), maxLength: 4) == "AAAA")
        #expect(throws: CPQXText.DecodeError.tooLong) { try CPQXText.decode(String(repeating: "+41", count: 5), maxLength: 4) }
        #expect(try CPQXText.decode("+C3+A9", maxLength: 2) == "\u{E9}")
        #expect(throws: CPQXText.DecodeError.tooLong) { try CPQXText.decode("+C3+A9", maxLength: 1) }
        #expect(try CPQXText.decode("", maxLength: 0) == "")
    }

    @Test func everyOctetRoundTrips() throws {
        for scalar in (0...0x2FF).compactMap({ Unicode.Scalar(UInt32($0)) }) {
            let text = "x\(Character(scalar))y"
            let encoded = CPQXText.encode(text)
            #expect(encoded.utf8.allSatisfy { $0 >= 33 && $0 <= 126 && $0 != UInt8(ascii: "=") })
            #expect(try CPQXText.decode(encoded, maxLength: 16) == text)
        }
    }
}
