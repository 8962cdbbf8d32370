import NIOSSL
import Testing

@testable import CPQTLS

@Suite("Cipher lists")
struct CPQCipherListTests {
    @Test func defaultListSelectsModernSuitesAndSkipsWhatBoringSSLLacks() throws {
        let list = try CPQCipherList.evaluate(CPQTLSConfiguration.defaultCipherList)
        #expect(list.ignoredNames == ["MEDIUM", "aNULL"])
        #expect(list.hasECDSASuite)
        #expect(list.ciphers.first == "ECDHE-ECDSA-AES128-GCM-SHA256")
        #expect(!list.ciphers.contains("DES-CBC3-SHA"))
        #expect(!list.ciphers.contains("ECDHE-ECDSA-AES128-SHA256"))
    }

    @Test func operatorsWorkAsInBoringSSL() throws {
        #expect(try CPQCipherList.evaluate("ECDHE-ECDSA-AES256-GCM-SHA384").ciphers == ["ECDHE-ECDSA-AES256-GCM-SHA384"])
        #expect(try CPQCipherList.evaluate("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256").ciphers == ["ECDHE-ECDSA-AES128-GCM-SHA256"])
        #expect(try CPQCipherList.evaluate("ECDSA+AESGCM").ciphers == ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384"])
        #expect(try CPQCipherList.evaluate("ECDSA+AESGCM:@STRENGTH").ciphers == ["ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-GCM-SHA256"])
        #expect(try CPQCipherList.evaluate("ALL:!RSA:!aPSK:-SHA1").ciphers.allSatisfy { $0.hasPrefix("ECDHE-ECDSA") || $0.hasPrefix("ECDHE-RSA") })
        #expect(try CPQCipherList.evaluate("!ECDSA:ALL").ciphers.allSatisfy { !$0.contains("ECDSA") })
        #expect(try CPQCipherList.evaluate("3DES").ciphers == ["DES-CBC3-SHA"])
        #expect(try CPQCipherList.evaluate("[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]").ciphers.count == 2)
        #expect(try CPQCipherList.evaluate("DEFAULT").ciphers.count == 19)
    }

    @Test(arguments: ["aNULL", "eNULL:EXPORT", "", "   ", "HIGH:@SECLEVEL=0", "HIGH:-", "[AES|", "[AES]:-RSA", "HIGH!", "TLS_AES_128_GCM_SHA256", "TLSv1.2+ECDSA"])
    func listsBoringSSLWouldRefuseAreErrorsNamingTheField(list: String) {
        let error = #expect(throws: CPQTLSError.self) { try CPQTLSConfiguration(cipherList: list).validate() }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.hasPrefix("cipherList: ") == true, "\(error?.message ?? "")")
    }

    @Test func tls12NeedsAnECDSASuite() throws {
        let error = #expect(throws: CPQTLSError.self) { try CPQTLSConfiguration(cipherList: "RSA").validate() }
        #expect(error?.message.contains("ECDHE-ECDSA") == true)
        try CPQTLSConfiguration(cipherList: "RSA", minimumVersion: .tls13).validate()
    }

    @Test func minimumVersionParses() throws {
        #expect(try CPQTLSVersion(parsing: "TLSv1.2") == .tls12)
        #expect(try CPQTLSVersion(parsing: "tls1.3") == .tls13)
        let error = #expect(throws: CPQTLSError.self) { try CPQTLSVersion(parsing: "TLSv1.0") }
        #expect(error?.message.hasPrefix("minimumVersion: ") == true)
    }

    /// Every list the check lets through must be one BoringSSL takes: NIOSSL
    /// stops the process on one it refuses, so this test fails by crashing.
    @Test(arguments: [
        "HIGH:MEDIUM:-aNULL", "ALL", "DEFAULT", "DEFAULT:!RSA", "ECDSA+AESGCM:@STRENGTH", "HIGH MEDIUM", "HIGH;!PSK,!RSA",
        "ECDHE-ECDSA-AES128-GCM-SHA256", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "[ECDSA+AES128|ECDSA+CHACHA20]:ECDSA",
        "kECDHE+aECDSA", "ECDSA+TLSv1.2", "SHA1:ECDSA", "MEDIUM:ECDSA:FOO+BAR", "ECDSA:-ECDSA:+ECDSA:ECDHE-ECDSA-AES256-SHA",
    ])
    func acceptedListsMakeARealContext(list: String) throws {
        let selected = try CPQTLSConfiguration(cipherList: list).validate()
        #expect(!selected.ciphers.isEmpty)
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.cipherSuites = list
        _ = try NIOSSLContext(configuration: tls)
    }
}
