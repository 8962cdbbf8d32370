import Foundation
import Testing
@testable import AdminCLI

/// bcrypt against published test vectors (OpenBSD's and Openwall crypt_blowfish's, pyca
/// bcrypt's) and against Python's `bcrypt` package both ways (installed by scripts/test).
@Suite struct BcryptTests {
    static let vectors: [(password: String, hash: String)] = [
        ("U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
        ("U*U*", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK"),
        ("U*U*U", "$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a"),
        ("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789chars after 72 are ignored",
         "$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui"),
        ("", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy"),
        ("Kk4DQuMMfZL9o", "$2b$04$cVWp4XaNU8a4v1uMRum2SO026BWLIoQMD/TXg5uZV.0P.uO8m3YEm"),
    ]

    @Test("published vectors verify, and hashing with their salt gives them back", arguments: 0..<6)
    func publishedVectors(index: Int) throws {
        let (password, hash) = Self.vectors[index]
        #expect(try Bcrypt.verify(password, hash: hash))
        #expect(try !Bcrypt.verify(Self.wrong(password), hash: hash))
        let parsed = try Bcrypt.Parsed(hash)
        let version = String(hash.dropFirst().prefix(2))
        #expect(try Bcrypt.hash(password, cost: parsed.cost, salt: parsed.salt, version: version) == hash)
    }

    @Test("a non-UTF-8 password byte (Openwall's $2y$ vector for 0xA3)")
    func eightBitVector() throws {
        let parsed = try Bcrypt.Parsed("$2y$05$/OK.fbVrR/bpIqNJ5ianF.Sa7shbm4.OzKpvFnX1pQLmQW96oUlCq")
        let digest = Bcrypt.eksBlowfish(password: [0xa3], cost: parsed.cost, salt: parsed.salt)
        #expect(Array(digest.prefix(23)) == parsed.digest)
    }

    @Test("the Blowfish tables are pi's digits where the specification's published entries say")
    func blowfishTables() {
        #expect(BlowfishConstants.p.count == 18 && BlowfishConstants.s.count == 1024)
        #expect(BlowfishConstants.p[0] == 0x243f_6a88 && BlowfishConstants.p[17] == 0x8979_fb1b)
        #expect(BlowfishConstants.s[0] == 0xd131_0ba6 && BlowfishConstants.s[256] == 0x4b7a_70e9)
        #expect(BlowfishConstants.s[512] == 0xe93d_5a68 && BlowfishConstants.s[1023] == 0x3ac3_72e6)
    }

    @Test("Blowfish itself: Eric Young's test vector (key 0x00.. plain 0x00..)")
    func blowfishVector() {
        var cipher = Blowfish()
        cipher.expandKey([0, 0, 0, 0, 0, 0, 0, 0])
        let (left, right) = cipher.encrypt(0, 0)
        #expect(left == 0x4ef9_9745 && right == 0x6198_dd78)
    }

    /// Another password differing within bcrypt's first 72 bytes.
    static func wrong(_ password: String) -> String { "#" + password.dropFirst() }

    static let passwords = ["correct horse battery staple", "", "ünïcödé 🔐", String(repeating: "a", count: 72), "p@ss w0rd\t!"]

    @Test("our hashes verify with Python's bcrypt; Python's verify with ours")
    func pythonBothWays() async throws {
        for password in Self.passwords {
            let ours = try Bcrypt.hash(password, cost: 4)
            #expect(ours.hasPrefix("$2b$04$") && ours.utf8.count == 60)
            #expect(try await python(check: password, hash: ours) == "True", "\(ours)")
            #expect(try await python(check: Self.wrong(password), hash: ours) == "False")
            let theirs = try await python(hash: password)
            #expect(try Bcrypt.verify(password, hash: theirs), "\(theirs)")
            #expect(try !Bcrypt.verify(Self.wrong(password), hash: theirs))
            // Python's $2a$ prefix too.
            let theirsA = "$2a$" + theirs.dropFirst(4)
            #expect(try Bcrypt.verify(password, hash: theirsA))
        }
    }

    @Test("malformed hashes are refused with a reason, never matched")
    func malformed() throws {
        #expect(throws: Bcrypt.FormatError.self) { try Bcrypt.verify("x", hash: "secret") }
        #expect(throws: Bcrypt.FormatError.self) { try Bcrypt.verify("x", hash: "$1$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW") }
        #expect(throws: Bcrypt.FormatError.self) { try Bcrypt.verify("x", hash: "$2b$99$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW") }
        #expect(throws: Bcrypt.FormatError.self) { try Bcrypt.verify("x", hash: "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe!") }
        #expect(throws: Bcrypt.FormatError.self) { try Bcrypt.hash("x", cost: 3) }
        do {
            try Bcrypt.validate("plain")
            Issue.record("a plain password was taken for a hash")
        } catch {
            #expect("\(error)".contains("lazaret ssh hash-password"))
        }
    }

    // MARK: Python's bcrypt

    private func python(check password: String, hash: String) async throws -> String {
        try await runPython("import bcrypt,sys; print(bcrypt.checkpw(sys.argv[1].encode(), sys.argv[2].encode()))", password, hash)
    }

    private func python(hash password: String) async throws -> String {
        try await runPython("import bcrypt,sys; print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt(4)).decode())", password)
    }

    private func runPython(_ script: String, _ arguments: String...) async throws -> String {
        let result = try await runTool(["python3", "-c", script] + arguments)
        #expect(result.status == 0, "python3 bcrypt failed (scripts/test installs it with pip): \(result.stderr)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
