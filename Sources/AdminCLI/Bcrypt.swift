/// bcrypt password hashes (`$2b$12$` + 22 characters of salt + 31 of hash), the form the
/// `password_bcrypt` of an SSH user takes. Verifies `$2a$`, `$2b$` and `$2y$` hashes (the
/// same algorithm for passwords up to 72 bytes) and makes `$2b$` ones. Passwords longer
/// than 72 bytes are cut there, as every bcrypt does.
///
/// The algorithm is Provos and Mazières' EksBlowfish ("A Future-Adaptable Password Scheme",
/// USENIX 1999) as OpenBSD implements it.
public enum Bcrypt {
    /// The cost `lazaret ssh hash-password` uses unless told otherwise (2^12 rounds).
    public static let defaultCost = 12
    /// The costs bcrypt defines.
    public static let costs = 4...31

    /// A hash string that cannot be read as bcrypt, or a cost out of range.
    public struct FormatError: Error, Hashable, Sendable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// Hashes `password` with a fresh random salt: `$2b$<cost>$<salt><hash>`.
    public static func hash(_ password: String, cost: Int = defaultCost) throws -> String {
        var salt = [UInt8](repeating: 0, count: 16)
        var generator = SystemRandomNumberGenerator()
        for index in salt.indices { salt[index] = UInt8.random(in: 0...255, using: &generator) }
        return try hash(password, cost: cost, salt: salt)
    }

    /// Hashes `password` with the given 16-byte salt (for tests and test vectors).
    public static func hash(_ password: String, cost: Int, salt: [UInt8], version: String = "2b") throws -> String {
        guard costs.contains(cost) else {
            throw FormatError(reason: "bcrypt cost \(cost) is out of range: use \(costs.lowerBound) to \(costs.upperBound) (\(defaultCost) is usual)")
        }
        guard salt.count == 16 else { throw FormatError(reason: "a bcrypt salt has 16 bytes, not \(salt.count)") }
        let digest = eksBlowfish(password: Array(password.utf8), cost: cost, salt: salt)
        let costText = cost < 10 ? "0\(cost)" : "\(cost)"
        return "$\(version)$\(costText)$" + BcryptBase64.encode(salt) + BcryptBase64.encode(Array(digest.prefix(23)))
    }

    /// Whether `password` matches `hash` (compared in constant time). Throws when `hash` is
    /// not a bcrypt hash, so a typo in the configuration is found rather than refusing everyone.
    public static func verify(_ password: String, hash: String) throws -> Bool {
        let parsed = try Parsed(hash)
        let digest = eksBlowfish(password: Array(password.utf8), cost: parsed.cost, salt: parsed.salt)
        let expected = parsed.digest
        var difference: UInt8 = 0
        for index in 0..<23 { difference |= digest[index] ^ expected[index] }
        return difference == 0
    }

    /// Checks that `hash` is a bcrypt hash this code verifies (for configuration loading).
    public static func validate(_ hash: String) throws {
        _ = try Parsed(hash)
    }

    struct Parsed {
        var cost: Int
        var salt: [UInt8]
        var digest: [UInt8]

        init(_ text: String) throws {
            let bytes = Array(text.utf8)
            guard bytes.count == 60, bytes[0] == UInt8(ascii: "$"), bytes[3] == UInt8(ascii: "$"), bytes[6] == UInt8(ascii: "$")
            else {
                throw FormatError(reason: "not a bcrypt hash: expected 60 characters like $2b$12$ followed by 53 characters; make one with `lazaret ssh hash-password`")
            }
            let version = String(decoding: bytes[1..<3], as: UTF8.self)
            guard ["2a", "2b", "2y"].contains(version) else {
                throw FormatError(reason: "bcrypt version $\(version)$ is not supported: use $2a$, $2b$ or $2y$")
            }
            guard let cost = Int(String(decoding: bytes[4..<6], as: UTF8.self)), costs.contains(cost) else {
                throw FormatError(reason: "bcrypt cost \"\(String(decoding: bytes[4..<6], as: UTF8.self))\" is not 04 to 31")
            }
            guard let salt = BcryptBase64.decode(bytes[7..<29], count: 16),
                  let digest = BcryptBase64.decode(bytes[29..<60], count: 23)
            else {
                throw FormatError(reason: "bcrypt hash has characters outside ./A-Za-z0-9 in its salt or hash")
            }
            self.cost = cost
            self.salt = salt
            self.digest = digest
        }
    }

    /// EksBlowfish: the expensive key setup, then "OrpheanBeholderScryDoubt" encrypted 64
    /// times. Returns the 24 bytes of cipher text (bcrypt keeps 23).
    static func eksBlowfish(password: [UInt8], cost: Int, salt: [UInt8]) -> [UInt8] {
        // The key is the password with its terminating NUL, at most 72 bytes.
        let key = Array((password + [0]).prefix(72))
        var state = Blowfish()
        state.expandKey(key, salt: salt)
        let rounds = 1 << UInt64(cost)
        for _ in 0..<rounds {
            state.expandKey(key)
            state.expandKey(salt)
        }
        var text: [UInt32] = [0x4f72_7068, 0x6561_6e42, 0x6568_6f6c, 0x6465_7253, 0x6372_7944, 0x6f75_6274]
        for _ in 0..<64 {
            for block in stride(from: 0, to: 6, by: 2) {
                (text[block], text[block + 1]) = state.encrypt(text[block], text[block + 1])
            }
        }
        var output: [UInt8] = []
        output.reserveCapacity(24)
        for word in text {
            output += [UInt8(word >> 24), UInt8(truncatingIfNeeded: word >> 16), UInt8(truncatingIfNeeded: word >> 8), UInt8(truncatingIfNeeded: word)]
        }
        return output
    }
}

/// The Blowfish cipher state bcrypt stretches: the P-array and four S-boxes.
struct Blowfish {
    var p: [UInt32] = BlowfishConstants.p
    var s: [UInt32] = BlowfishConstants.s

    func encrypt(_ left: UInt32, _ right: UInt32) -> (UInt32, UInt32) {
        var l = left
        var r = right
        p.withUnsafeBufferPointer { p in
            s.withUnsafeBufferPointer { s in
                for round in stride(from: 0, to: 16, by: 2) {
                    l ^= p[round]
                    r ^= ((s[Int(l >> 24)] &+ s[256 + Int((l >> 16) & 0xff)]) ^ s[512 + Int((l >> 8) & 0xff)]) &+ s[768 + Int(l & 0xff)]
                    r ^= p[round + 1]
                    l ^= ((s[Int(r >> 24)] &+ s[256 + Int((r >> 16) & 0xff)]) ^ s[512 + Int((r >> 8) & 0xff)]) &+ s[768 + Int(r & 0xff)]
                }
                l ^= p[16]
                r ^= p[17]
            }
        }
        return (r, l)
    }

    /// The next 32-bit big-endian word of `data`, cycling through it.
    private static func streamWord(_ data: [UInt8], _ position: inout Int) -> UInt32 {
        var word: UInt32 = 0
        for _ in 0..<4 {
            word = (word << 8) | UInt32(data[position])
            position = (position + 1) % data.count
        }
        return word
    }

    /// Blowfish's key schedule mixed with `salt` (EksBlowfish's ExpandKey); with no salt it
    /// is the plain Blowfish key schedule.
    mutating func expandKey(_ key: [UInt8], salt: [UInt8]? = nil) {
        var keyPosition = 0
        for index in 0..<18 { p[index] ^= Self.streamWord(key, &keyPosition) }
        var saltPosition = 0
        var left: UInt32 = 0
        var right: UInt32 = 0
        func next() {
            if let salt {
                left ^= Self.streamWord(salt, &saltPosition)
                right ^= Self.streamWord(salt, &saltPosition)
            }
            (left, right) = encrypt(left, right)
        }
        for index in stride(from: 0, to: 18, by: 2) {
            next()
            p[index] = left
            p[index + 1] = right
        }
        for index in stride(from: 0, to: 1024, by: 2) {
            next()
            s[index] = left
            s[index + 1] = right
        }
    }
}

/// bcrypt's own base64: alphabet `./A-Za-z0-9`, no padding.
enum BcryptBase64 {
    static let alphabet = Array("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
    static let values: [Int8] = {
        var table = [Int8](repeating: -1, count: 256)
        for (index, character) in alphabet.enumerated() { table[Int(character)] = Int8(index) }
        return table
    }()

    static func encode(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let c1 = bytes[index]
            output.append(alphabet[Int(c1 >> 2)])
            var carry = (c1 & 0x03) << 4
            index += 1
            guard index < bytes.count else { output.append(alphabet[Int(carry)]); break }
            let c2 = bytes[index]
            output.append(alphabet[Int(carry | (c2 >> 4))])
            carry = (c2 & 0x0f) << 2
            index += 1
            guard index < bytes.count else { output.append(alphabet[Int(carry)]); break }
            let c3 = bytes[index]
            output.append(alphabet[Int(carry | (c3 >> 6))])
            output.append(alphabet[Int(c3 & 0x3f)])
            index += 1
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes `text` into exactly `count` bytes, or nil on a character outside the alphabet.
    static func decode(_ text: ArraySlice<UInt8>, count: Int) -> [UInt8]? {
        var sextets: [UInt8] = []
        for character in text {
            let value = values[Int(character)]
            guard value >= 0 else { return nil }
            sextets.append(UInt8(value))
        }
        var output: [UInt8] = []
        var index = 0
        while output.count < count, index + 1 < sextets.count {
            output.append((sextets[index] << 2) | (sextets[index + 1] >> 4))
            if output.count == count || index + 2 >= sextets.count { break }
            output.append((sextets[index + 1] << 4) | (sextets[index + 2] >> 2))
            if output.count == count || index + 3 >= sextets.count { break }
            output.append((sextets[index + 2] << 6) | sextets[index + 3])
            index += 4
        }
        return output.count == count ? output : nil
    }
}
