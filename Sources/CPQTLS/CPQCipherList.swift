/// What an OpenSSL-syntax cipher list (`HIGH:MEDIUM:-aNULL`) selects in the
/// TLS library SwiftNIO uses (BoringSSL), worked out before the list is handed
/// to it: swift-nio-ssl stops the process when BoringSSL refuses a list, so a
/// bad `cipherList` in a configuration must be caught here, with an error that
/// names the field.
///
/// This follows BoringSSL's `ssl_create_cipher_list` rule for rule: `:` (and
/// space, `;`, `,`) separate rules; a rule is a cipher name or aliases joined
/// by `+`, with an optional operator (`-` remove, `!` remove for good, `+`
/// move to the end, `@STRENGTH` sort); `[a|b]` is an equal-preference group;
/// a leading `DEFAULT` means `ALL`. Names BoringSSL does not know (`MEDIUM`,
/// `aNULL`, `eNULL`, `EXPORT`, ...) are skipped, as it skips them: BoringSSL
/// has no anonymous, export or NULL-encryption suites at all. The list only
/// governs TLS 1.2 and below; TLS 1.3 always offers its three AEAD suites.
public struct CPQCipherList: Hashable, Sendable {
    /// The selected TLS 1.2 cipher suites in preference order (OpenSSL names).
    public var ciphers: [String]
    /// Names in the list that the TLS library does not know and skipped.
    public var ignoredNames: [String]

    /// Whether a TLS 1.2 handshake with an ECDSA certificate (every CPQ
    /// certificate) has a suite to use.
    public var hasECDSASuite: Bool {
        ciphers.contains { name in Self.suites.first { $0.name == name }?.auth == Auth.ecdsa }
    }

    /// Evaluates `rules`; throws ``CPQTLSError/Code/invalidConfiguration`` with a
    /// message starting `field:` when BoringSSL would refuse it.
    public static func evaluate(_ rules: String, field: String = "cipherList") throws -> CPQCipherList {
        var evaluator = Evaluator()
        let text = Array(rules.utf8)
        var start = 0
        if text.starts(with: Array("DEFAULT".utf8)) {
            try evaluator.process(Array("ALL".utf8), field: field, original: rules)
            start = 7
            if start < text.count, text[start] == UInt8(ascii: ":") { start += 1 }
        }
        if start < text.count {
            try evaluator.process(Array(text[start...]), field: field, original: rules)
        }
        let selected = evaluator.order.filter { evaluator.active[$0] }.map { Self.suites[$0].name }
        guard !selected.isEmpty else {
            throw CPQTLSError(.invalidConfiguration,
                "\(field): \"\(rules)\" selects no cipher suite this TLS library supports (it has no anonymous, "
                + "export or NULL suites); use for example \(CPQTLSConfiguration.defaultCipherList)")
        }
        return CPQCipherList(ciphers: selected, ignoredNames: evaluator.ignored)
    }

    // MARK: - BoringSSL's tables (ssl/ssl_cipher.cc)

    enum Kx: UInt32 { case rsa = 1, ecdhe = 2, psk = 4, generic = 8 }
    enum Auth: UInt32 { case rsaSign = 1, rsaDecrypt = 2, ecdsa = 4, psk = 8, generic = 16 }
    enum Enc: UInt32 { case tripleDES = 1, aes128 = 2, aes256 = 4, aes128GCM = 8, aes256GCM = 16, chacha20 = 32 }
    enum Mac: UInt32 { case sha1 = 1, sha256 = 2, aead = 4 }

    struct Suite {
        var name: String
        var standardName: String
        var kx: Kx
        var auth: Auth
        var enc: Enc
        var mac: Mac
        /// TLS 1.2 suites with their own PRF hash; older ones use the default.
        var tls12Only: Bool

        var isDeprecated: Bool {
            name == "ECDHE-ECDSA-AES128-SHA256" || name == "ECDHE-RSA-AES128-SHA256" || enc == .tripleDES
        }
        var strengthBits: Int {
            switch enc {
            case .aes128, .aes128GCM: 128
            case .aes256, .aes256GCM, .chacha20: 256
            case .tripleDES: 112
            }
        }
        var minimumVersion: UInt16 {
            if kx == .generic || auth == .generic { return 0x0304 }
            return tls12Only ? 0x0303 : 0x0300
        }
    }

    /// The TLS 1.2-and-below suites in BoringSSL's initial order (with AES hardware).
    static let suites: [Suite] = [
        Suite(name: "ECDHE-ECDSA-AES128-GCM-SHA256", standardName: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", kx: .ecdhe, auth: .ecdsa, enc: .aes128GCM, mac: .aead, tls12Only: true),
        Suite(name: "ECDHE-RSA-AES128-GCM-SHA256", standardName: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", kx: .ecdhe, auth: .rsaSign, enc: .aes128GCM, mac: .aead, tls12Only: true),
        Suite(name: "ECDHE-ECDSA-AES256-GCM-SHA384", standardName: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", kx: .ecdhe, auth: .ecdsa, enc: .aes256GCM, mac: .aead, tls12Only: true),
        Suite(name: "ECDHE-RSA-AES256-GCM-SHA384", standardName: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", kx: .ecdhe, auth: .rsaSign, enc: .aes256GCM, mac: .aead, tls12Only: true),
        Suite(name: "ECDHE-ECDSA-CHACHA20-POLY1305", standardName: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", kx: .ecdhe, auth: .ecdsa, enc: .chacha20, mac: .aead, tls12Only: true),
        Suite(name: "ECDHE-RSA-CHACHA20-POLY1305", standardName: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", kx: .ecdhe, auth: .rsaSign, enc: .chacha20, mac: .aead, tls12Only: true),
        Suite(name: "ECDHE-PSK-CHACHA20-POLY1305", standardName: "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256", kx: .ecdhe, auth: .psk, enc: .chacha20, mac: .aead, tls12Only: true),
        Suite(name: "ECDHE-ECDSA-AES128-SHA", standardName: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", kx: .ecdhe, auth: .ecdsa, enc: .aes128, mac: .sha1, tls12Only: false),
        Suite(name: "ECDHE-RSA-AES128-SHA", standardName: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", kx: .ecdhe, auth: .rsaSign, enc: .aes128, mac: .sha1, tls12Only: false),
        Suite(name: "ECDHE-PSK-AES128-CBC-SHA", standardName: "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA", kx: .ecdhe, auth: .psk, enc: .aes128, mac: .sha1, tls12Only: false),
        Suite(name: "ECDHE-ECDSA-AES256-SHA", standardName: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", kx: .ecdhe, auth: .ecdsa, enc: .aes256, mac: .sha1, tls12Only: false),
        Suite(name: "ECDHE-RSA-AES256-SHA", standardName: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", kx: .ecdhe, auth: .rsaSign, enc: .aes256, mac: .sha1, tls12Only: false),
        Suite(name: "ECDHE-PSK-AES256-CBC-SHA", standardName: "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA", kx: .ecdhe, auth: .psk, enc: .aes256, mac: .sha1, tls12Only: false),
        Suite(name: "ECDHE-ECDSA-AES128-SHA256", standardName: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", kx: .ecdhe, auth: .ecdsa, enc: .aes128, mac: .sha256, tls12Only: true),
        Suite(name: "ECDHE-RSA-AES128-SHA256", standardName: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", kx: .ecdhe, auth: .rsaSign, enc: .aes128, mac: .sha256, tls12Only: true),
        Suite(name: "AES128-GCM-SHA256", standardName: "TLS_RSA_WITH_AES_128_GCM_SHA256", kx: .rsa, auth: .rsaDecrypt, enc: .aes128GCM, mac: .aead, tls12Only: true),
        Suite(name: "AES256-GCM-SHA384", standardName: "TLS_RSA_WITH_AES_256_GCM_SHA384", kx: .rsa, auth: .rsaDecrypt, enc: .aes256GCM, mac: .aead, tls12Only: true),
        Suite(name: "AES128-SHA", standardName: "TLS_RSA_WITH_AES_128_CBC_SHA", kx: .rsa, auth: .rsaDecrypt, enc: .aes128, mac: .sha1, tls12Only: false),
        Suite(name: "PSK-AES128-CBC-SHA", standardName: "TLS_PSK_WITH_AES_128_CBC_SHA", kx: .psk, auth: .psk, enc: .aes128, mac: .sha1, tls12Only: false),
        Suite(name: "AES256-SHA", standardName: "TLS_RSA_WITH_AES_256_CBC_SHA", kx: .rsa, auth: .rsaDecrypt, enc: .aes256, mac: .sha1, tls12Only: false),
        Suite(name: "PSK-AES256-CBC-SHA", standardName: "TLS_PSK_WITH_AES_256_CBC_SHA", kx: .psk, auth: .psk, enc: .aes256, mac: .sha1, tls12Only: false),
        Suite(name: "DES-CBC3-SHA", standardName: "TLS_RSA_WITH_3DES_EDE_CBC_SHA", kx: .rsa, auth: .rsaDecrypt, enc: .tripleDES, mac: .sha1, tls12Only: false),
    ]

    /// TLS 1.3 suites: known names (so not "ignored"), but never in the TLS 1.2 list.
    static let tls13Names: Set<String> = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]

    struct Alias {
        var name: String
        var kx: UInt32 = ~0
        var auth: UInt32 = ~0
        var enc: UInt32 = ~0
        var mac: UInt32 = ~0
        var minimumVersion: UInt16 = 0
        var includeDeprecated = false
    }

    static let aliases: [Alias] = {
        let aes = Enc.aes128.rawValue | Enc.aes256.rawValue | Enc.aes128GCM.rawValue | Enc.aes256GCM.rawValue
        let rsa = Auth.rsaSign.rawValue | Auth.rsaDecrypt.rawValue
        return [
            Alias(name: "ALL"),
            Alias(name: "kRSA", kx: Kx.rsa.rawValue),
            Alias(name: "kECDHE", kx: Kx.ecdhe.rawValue),
            Alias(name: "kEECDH", kx: Kx.ecdhe.rawValue),
            Alias(name: "ECDH", kx: Kx.ecdhe.rawValue),
            Alias(name: "kPSK", kx: Kx.psk.rawValue),
            Alias(name: "aRSA", auth: rsa),
            Alias(name: "aECDSA", auth: Auth.ecdsa.rawValue),
            Alias(name: "ECDSA", auth: Auth.ecdsa.rawValue),
            Alias(name: "aPSK", auth: Auth.psk.rawValue),
            Alias(name: "ECDHE", kx: Kx.ecdhe.rawValue),
            Alias(name: "EECDH", kx: Kx.ecdhe.rawValue),
            Alias(name: "RSA", kx: Kx.rsa.rawValue, auth: rsa),
            Alias(name: "PSK", kx: Kx.psk.rawValue, auth: Auth.psk.rawValue),
            Alias(name: "3DES", enc: Enc.tripleDES.rawValue, includeDeprecated: true),
            Alias(name: "AES128", enc: Enc.aes128.rawValue | Enc.aes128GCM.rawValue),
            Alias(name: "AES256", enc: Enc.aes256.rawValue | Enc.aes256GCM.rawValue),
            Alias(name: "AES", enc: aes),
            Alias(name: "AESGCM", enc: Enc.aes128GCM.rawValue | Enc.aes256GCM.rawValue),
            Alias(name: "CHACHA20", enc: Enc.chacha20.rawValue),
            Alias(name: "SHA1", mac: Mac.sha1.rawValue),
            Alias(name: "SHA", mac: Mac.sha1.rawValue),
            Alias(name: "SSLv3", minimumVersion: 0x0300),
            Alias(name: "TLSv1", minimumVersion: 0x0300),
            Alias(name: "TLSv1.2", minimumVersion: 0x0303),
            Alias(name: "HIGH"),
            Alias(name: "FIPS"),
        ]
    }()

    // MARK: - The rule processor (ssl_cipher_process_rulestr)

    enum Operation { case add, delete, kill, order, special }

    enum Selector {
        case suite(String)          // an exact name (may be a TLS 1.3 name: matches nothing here)
        case alias(Alias)
    }

    struct Evaluator {
        /// Indices into `suites`, in list order; killed suites are removed.
        var order: [Int] = Array(suites.indices)
        var active = [Bool](repeating: false, count: suites.count)
        var ignored: [String] = []

        mutating func process(_ rule: [UInt8], field: String, original: String) throws {
            func fail(_ why: String) -> CPQTLSError {
                CPQTLSError(.invalidConfiguration, "\(field): \"\(original)\" is not a valid cipher list: \(why)")
            }
            func isNameByte(_ c: UInt8) -> Bool {
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                    || c == UInt8(ascii: "-") || c == UInt8(ascii: ".") || c == UInt8(ascii: "_")
            }
            func isAlphanumeric(_ c: UInt8) -> Bool {
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
            }
            func isSeparator(_ c: UInt8) -> Bool {
                c == UInt8(ascii: ":") || c == UInt8(ascii: " ") || c == UInt8(ascii: ";") || c == UInt8(ascii: ",")
            }

            var i = 0
            var inGroup = false
            var hasGroup = false
            while i < rule.count {
                let c = rule[i]
                var operation = Operation.add
                if inGroup {
                    if c == UInt8(ascii: "]") { inGroup = false; i += 1; continue }
                    if c == UInt8(ascii: "|") { i += 1; continue }
                    guard isAlphanumeric(c) else { throw fail("unexpected operator inside [...]") }
                } else if c == UInt8(ascii: "-") {
                    operation = .delete; i += 1
                } else if c == UInt8(ascii: "+") {
                    operation = .order; i += 1
                } else if c == UInt8(ascii: "!") {
                    operation = .kill; i += 1
                } else if c == UInt8(ascii: "@") {
                    operation = .special; i += 1
                } else if c == UInt8(ascii: "[") {
                    inGroup = true; hasGroup = true; i += 1
                    continue
                }
                if hasGroup && operation != .add {
                    throw fail("-, +, ! and @ cannot be used in a list with [...] groups")
                }
                if isSeparator(c) { i += 1; continue }

                var multi = false
                var exact: String?
                var alias = Alias(name: "")
                alias.includeDeprecated = operation != .add
                var skip = false
                var lastName = ""
                while true {
                    let nameStart = i
                    while i < rule.count, isNameByte(rule[i]) { i += 1 }
                    guard i > nameStart else {
                        throw fail("unexpected character \"\(String(decoding: [rule[min(i, rule.count - 1)]], as: UTF8.self))\"")
                    }
                    let name = String(decoding: rule[nameStart..<i], as: UTF8.self)
                    lastName = name
                    if operation == .special { break }
                    let next: UInt8? = i < rule.count ? rule[i] : nil
                    if !multi && next != UInt8(ascii: "+") {
                        if let suite = suites.first(where: { $0.name == name || $0.standardName == name }) {
                            exact = suite.name
                        } else if tls13Names.contains(name) {
                            exact = name
                        }
                    }
                    if exact == nil {
                        if let found = aliases.first(where: { $0.name == name }) {
                            alias.kx &= found.kx
                            alias.auth &= found.auth
                            alias.enc &= found.enc
                            alias.mac &= found.mac
                            alias.includeDeprecated = alias.includeDeprecated || found.includeDeprecated
                            if alias.minimumVersion != 0 && alias.minimumVersion != found.minimumVersion {
                                skip = true
                            } else {
                                alias.minimumVersion = found.minimumVersion
                            }
                        } else {
                            skip = true
                            if !ignored.contains(name) { ignored.append(name) }
                        }
                    }
                    guard next == UInt8(ascii: "+") else { break }
                    i += 1
                    multi = true
                }

                if operation == .special {
                    guard lastName == "STRENGTH" else { throw fail("@\(lastName) is unknown; only @STRENGTH is") }
                    sortByStrength()
                    while i < rule.count, !isSeparator(rule[i]) { i += 1 }
                } else if !skip {
                    apply(operation, selector: exact.map(Selector.suite) ?? .alias(alias))
                }
            }
            if inGroup { throw fail("a [ group is not closed") }
        }

        func matches(_ index: Int, _ selector: Selector) -> Bool {
            let suite = suites[index]
            switch selector {
            case .suite(let name):
                return suite.name == name
            case .alias(let alias):
                return alias.kx & suite.kx.rawValue != 0 && alias.auth & suite.auth.rawValue != 0
                    && alias.enc & suite.enc.rawValue != 0 && alias.mac & suite.mac.rawValue != 0
                    && (alias.minimumVersion == 0 || suite.minimumVersion == alias.minimumVersion)
                    && (alias.includeDeprecated || !suite.isDeprecated)
            }
        }

        mutating func apply(_ operation: Operation, selector: Selector) {
            switch operation {
            case .add:
                for index in order where !active[index] && matches(index, selector) {
                    moveToTail(index)
                    active[index] = true
                }
            case .order:
                for index in order where active[index] && matches(index, selector) {
                    moveToTail(index)
                }
            case .delete:
                // Walks from the tail; each removed suite goes to the head, so the
                // most recently removed ones come first if added again.
                for index in order.reversed() where active[index] && matches(index, selector) {
                    order.removeAll { $0 == index }
                    order.insert(index, at: 0)
                    active[index] = false
                }
            case .kill:
                for index in order where matches(index, selector) {
                    order.removeAll { $0 == index }
                    active[index] = false
                }
            case .special:
                break
            }
        }

        mutating func moveToTail(_ index: Int) {
            order.removeAll { $0 == index }
            order.append(index)
        }

        /// `@STRENGTH`: the active suites, strongest first, keeping their relative order.
        mutating func sortByStrength() {
            let strengths = Set(order.filter { active[$0] }.map { suites[$0].strengthBits }).sorted(by: >)
            for bits in strengths {
                for index in order where active[index] && suites[index].strengthBits == bits {
                    moveToTail(index)
                }
            }
        }
    }
}
