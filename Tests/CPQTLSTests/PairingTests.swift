import Foundation
import Testing

@testable import CPQTLS

@Suite("Pairing tokens, registry and join bundles")
struct PairingTests {
    static let now = Date(timeIntervalSince1970: 1_780_000_000)

    @Test func tokenIsSingleUse() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let tokens = PairingTokens(path: directory.file("pairing-tokens.json"))
        let token = try tokens.create(gatewayName: "gw1", ttl: 3_600, now: Self.now)
        #expect(token.wholeMatch(of: /[A-Z2-7]{4}(-[A-Z2-7]{4}){7}/) != nil, "\(token)")

        let record = try tokens.redeem(token: token, presentedName: "gw1", from: ["10.0.0.5"], now: Self.now.addingTimeInterval(60))
        #expect(record.gatewayName == "gw1")
        #expect(record.addresses == ["10.0.0.5"])
        #expect(record.certificateFingerprint == nil)
        #expect(record.pairedAt == Self.now.addingTimeInterval(60))

        let again = #expect(throws: PairingError.self) {
            try tokens.redeem(token: token, presentedName: "gw1", now: Self.now.addingTimeInterval(120))
        }
        #expect(again?.code == .usedToken)
        #expect(again?.message.contains("already used") == true)
    }

    @Test func expiredUnknownMalformedAndMismatchedTokensGiveDistinctErrors() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let tokens = PairingTokens(path: directory.file("pairing-tokens.json"))
        let token = try tokens.create(gatewayName: "gw1", ttl: 3_600, now: Self.now)

        let expired = #expect(throws: PairingError.self) {
            try tokens.redeem(token: token, presentedName: "gw1", now: Self.now.addingTimeInterval(3_601))
        }
        #expect(expired?.code == .expiredToken)
        #expect(expired?.message.contains("expired") == true)

        let fresh = try tokens.create(gatewayName: "gw2", ttl: 3_600, now: Self.now)
        let unknown = #expect(throws: PairingError.self) {
            try tokens.redeem(token: "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA", presentedName: "gw2", now: Self.now)
        }
        #expect(unknown?.code == .unknownToken)

        let malformed = #expect(throws: PairingError.self) {
            try tokens.redeem(token: "hunter2", presentedName: "gw2", now: Self.now)
        }
        #expect(malformed?.code == .malformedToken)

        let mismatch = #expect(throws: PairingError.self) {
            try tokens.redeem(token: fresh, presentedName: "gw3", now: Self.now)
        }
        #expect(mismatch?.code == .nameMismatch)
        #expect(mismatch?.message.contains("\"gw2\"") == true)

        // A wrong name does not use the token up; typed in lower case without dashes it still works.
        let typed = fresh.replacingOccurrences(of: "-", with: "").lowercased()
        let record = try tokens.redeem(token: typed, presentedName: "GW2", now: Self.now)
        #expect(record.gatewayName == "gw2")
    }

    @Test func tokenFileKeepsOnlyTheHashAndIsPrivate() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("pairing-tokens.json")
        try SecureFile.createPrivateDirectory(directory.path)
        let tokens = PairingTokens(path: path)
        let token = try tokens.create(gatewayName: "gw1", now: Self.now)
        let stored = try String(contentsOfFile: path, encoding: .utf8)
        #expect(!stored.contains(token))
        #expect(!stored.contains(token.replacingOccurrences(of: "-", with: "")))
        #expect(stored.contains(PairingTokens.digest(try #require(PairingTokens.parse(token)))))
        #expect(SecureFile.mode(of: path) == 0o600)
        #expect(try tokens.pending(now: Self.now).map(\.gatewayName) == ["gw1"])
        #expect(try tokens.revoke(gatewayName: "gw1") == 1)
        #expect(throws: PairingError(.unknownToken, "")) {
            try tokens.redeem(token: token, presentedName: "gw1", now: Self.now)
        }
    }

    @Test func tokenNeedsAGoodNameAndTTL() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let tokens = PairingTokens(path: directory.file("t.json"))
        try SecureFile.createPrivateDirectory(directory.path)
        #expect(throws: CPQTLSError(.invalidName, "")) { try tokens.create(gatewayName: "gw 1") }
        #expect(throws: CPQTLSError(.invalidName, "")) { try tokens.create(gatewayName: "") }
        #expect(throws: CPQTLSError(.invalidConfiguration, "")) { try tokens.create(gatewayName: "gw1", ttl: 0) }
    }

    @Test func pairingIssuesRecordsAndBundles() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let ca = try CPQAuthority.loadOrCreate(directory: directory.path, managerHostname: "manager.example.com")
        let token = try ca.pairingTokens.create(gatewayName: "gw1.example.com")
        let bundle = try ca.pair(token: token, presentedName: "gw1.example.com", from: ["127.0.0.1"])

        let identity = try bundle.identity()
        #expect(identity.commonName == "gw1.example.com")
        #expect(identity.certificate.alternativeNames.dnsNames == ["gw1.example.com"])
        #expect(identity.certificate.alternativeNames.ipAddresses == ["127.0.0.1"])
        #expect(CPQCertificateUsage(identity.certificate) == .both)
        #expect(await ca.verify(identity.certificate, as: .client) == nil)
        #expect(bundle.managerFingerprint == ca.managerIdentity.fingerprint)
        #expect(try bundle.caCertificate() == ca.certificate)

        let registry = ca.pairedGateways
        #expect(registry.isPaired(fingerprint: identity.fingerprint))
        #expect(registry.isPaired(name: "GW1.example.com"))
        #expect(!registry.isPaired(fingerprint: ca.managerIdentity.fingerprint))
        let record = try #require(try registry.record(named: "gw1.example.com"))
        #expect(record.addresses == ["127.0.0.1"])
        #expect(record.cpqListener == nil)
        #expect(SecureFile.mode(of: directory.file("paired-gateways.json")) == 0o600)

        try registry.setListener(.init(host: "10.0.0.5", port: 7025), forGateway: "gw1.example.com")
        #expect(try registry.record(fingerprint: identity.fingerprint)?.cpqListener == .init(host: "10.0.0.5", port: 7025))

        // The token is spent.
        #expect(throws: PairingError(.usedToken, "")) {
            try ca.pair(token: token, presentedName: "gw1.example.com")
        }

        // Pairing the name again replaces the record and its certificate.
        let second = try ca.pair(token: ca.pairingTokens.create(gatewayName: "gw1.example.com"), presentedName: "gw1.example.com")
        #expect(try registry.all().count == 1)
        #expect(!registry.isPaired(fingerprint: identity.fingerprint))
        #expect(registry.isPaired(fingerprint: try second.identity().fingerprint))

        // Written by the gateway.
        let gatewayDirectory = TemporaryDirectory()
        defer { gatewayDirectory.remove() }
        try bundle.write(to: gatewayDirectory.path)
        #expect(SecureFile.mode(of: gatewayDirectory.file("gateway.key")) == 0o600)
        let reread = try CPQIdentity.load(certificatePath: gatewayDirectory.file("gateway.pem"), keyPath: gatewayDirectory.file("gateway.key"))
        #expect(reread == identity)
        // And read back whole, as the gateway does at start.
        #expect(try CPQJoinBundle.read(from: gatewayDirectory.path) == bundle)
        let notJoined = TemporaryDirectory()
        #expect(throws: CPQTLSError.self) { try CPQJoinBundle.read(from: notJoined.path) }
    }

    @Test func bundleRoundTrip() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let ca = try CPQAuthority.loadOrCreate(directory: directory.path, managerHostname: "manager.example.com")
        let bundle = try ca.pair(token: ca.pairingTokens.create(gatewayName: "gw1"), presentedName: "gw1")
        let text = try bundle.encoded()
        #expect(text.hasPrefix("cpq-join-v1:"))
        #expect(!text.contains { $0.isWhitespace })
        #expect(text.utf8.count < CPQJoinBundle.maximumEncodedSize)
        #expect(try CPQJoinBundle(decoding: text) == bundle)

        // Split over reply lines, as an SMTP reply would carry it.
        let characters = Array(text)
        let lines = stride(from: 0, to: characters.count, by: 70).map { String(characters[$0..<min($0 + 70, characters.count)]) }
        #expect(try CPQJoinBundle(decoding: lines.joined(separator: "\r\n")) == bundle)

        #expect(!bundle.description.contains("PRIVATE KEY"))
        #expect(bundle.description.contains("gw1"))
    }

    @Test(arguments: [
        ("hello", "must start with cpq-join-v1:"),
        ("cpq-join-v2:e30=", "version 2"),
        ("cpq-join-v1:%%%%", "not base64"),
        ("cpq-join-v1:e30=", "damaged"),
        ("cpq-join-v1:" + String(repeating: "A", count: 70_000), "more than"),
    ])
    func badBundlesAreRefusedClearly(text: String, phrase: String) throws {
        let error = #expect(throws: CPQTLSError.self) { try CPQJoinBundle(decoding: text) }
        #expect(error?.code == .invalidBundle)
        #expect(error?.message.contains(phrase) == true, "\(error?.message ?? "")")
    }

    @Test func tamperedBundleIsRefused() throws {
        let directory = TemporaryDirectory()
        let other = TemporaryDirectory()
        defer { directory.remove(); other.remove() }
        let ca = try CPQAuthority.loadOrCreate(directory: directory.path, managerHostname: "m")
        let otherCA = try CPQAuthority.loadOrCreate(directory: other.path, managerHostname: "m")
        var bundle = try ca.pair(token: ca.pairingTokens.create(gatewayName: "gw1"), presentedName: "gw1")
        bundle.caCertificatePEM = try otherCA.certificatePEM()
        let error = #expect(throws: CPQTLSError.self) { try CPQJoinBundle(decoding: try bundle.encoded()) }
        #expect(error?.message.contains("not issued by its CA") == true)
    }
}

/// `XCPQ JOIN`'s proofs: the token never crosses the wire, and a proof is bound to the
/// manager certificate the gateway saw.
@Suite struct JoinProofTests {
    @Test func aProofOverTheManagersCertificatePairsOnceAndOnlyThen() throws {
        let directory = NSTemporaryDirectory() + "join-proof-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let authority = try CPQAuthority.loadOrCreate(directory: directory, managerHostname: "manager.test")
        let token = try authority.pairingTokens.create(gatewayName: "gw1")
        let key = try #require(CPQJoinProof.key(token: token))
        let ours = authority.managerIdentity.fingerprint

        // Made over another certificate (a man in the middle's): refused, and the token still works.
        let elsewhere = CPQFingerprint(der: [1, 2, 3])
        #expect(throws: PairingError(.unknownToken, "")) {
            _ = try authority.pair(proof: CPQJoinProof.gatewayProof(key: key, gatewayName: "gw1", managerFingerprint: elsewhere), presentedName: "gw1")
        }
        // Another name than the token's: refused.
        #expect(throws: PairingError(.unknownToken, "")) {
            _ = try authority.pair(proof: CPQJoinProof.gatewayProof(key: key, gatewayName: "gw2", managerFingerprint: ours), presentedName: "gw2")
        }
        let proof = CPQJoinProof.gatewayProof(key: key, gatewayName: "gw1", managerFingerprint: ours)
        let (bundle, managerProof) = try authority.pair(proof: proof, presentedName: "gw1", from: ["127.0.0.1"])
        #expect(bundle.gatewayName == "gw1")
        #expect(bundle.managerFingerprint == ours)
        #expect(CPQJoinProof.matches(CPQJoinProof.managerProof(key: key, bundle: try bundle.encoded()), managerProof))
        #expect(!CPQJoinProof.matches(CPQJoinProof.managerProof(key: key, bundle: try bundle.encoded() + "x"), managerProof))
        #expect(try authority.pairedGateways.record(named: "gw1")?.certificateFingerprint == (try bundle.identity()).fingerprint)
        // Once only.
        #expect(throws: PairingError(.usedToken, "")) { _ = try authority.pair(proof: proof, presentedName: "gw1") }
    }

    @Test func aTypedTokenGivesTheSameKeyWhateverItsCaseAndDashes() throws {
        let directory = NSTemporaryDirectory() + "join-key-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let authority = try CPQAuthority.loadOrCreate(directory: directory, managerHostname: "manager.test")
        let token = try authority.pairingTokens.create(gatewayName: "gw1")
        let sloppy = token.replacingOccurrences(of: "-", with: "").lowercased()
        let fingerprint = authority.managerIdentity.fingerprint
        let a = CPQJoinProof.gatewayProof(key: try #require(CPQJoinProof.key(token: token)), gatewayName: "gw1", managerFingerprint: fingerprint)
        let b = CPQJoinProof.gatewayProof(key: try #require(CPQJoinProof.key(token: sloppy)), gatewayName: "gw1", managerFingerprint: fingerprint)
        #expect(a == b && a.count == 64)
        #expect(CPQJoinProof.key(token: "not a token") == nil)
    }
}

@Suite struct SSHEndpointTests {
    static let blob = "AAAAC3NzaC1lZDI1NTE5AAAAIHvbA0WmqTeV5ts3WG+XomfD2c5OKBTYnGdWHhDxuhfS"

    @Test func hostKeysAreEd25519LinesOrBlobs() {
        #expect(PairingRecord.SSHEndpoint.hostKeyLine("ssh-ed25519 \(Self.blob) root@gw1") == "ssh-ed25519 \(Self.blob)")
        #expect(PairingRecord.SSHEndpoint.hostKeyLine(Self.blob) == "ssh-ed25519 \(Self.blob)")
        #expect(PairingRecord.SSHEndpoint.hostKeyLine("ssh-rsa \(Self.blob)") == nil)
        #expect(PairingRecord.SSHEndpoint.hostKeyLine("ssh-ed25519 AAAA") == nil)
        #expect(PairingRecord.SSHEndpoint.hostKeyLine("") == nil)
    }

    @Test func theFingerprintIsOpenSSHs() throws {
        // ssh-keygen -lf prints SHA256:<base64 of SHA-256 of the blob, no padding>.
        let endpoint = PairingRecord.SSHEndpoint(host: "h", port: 2222, hostKey: "ssh-ed25519 \(Self.blob)")
        #expect(endpoint.hostKeyFingerprint == "SHA256:CfQSuIhz96Axe1TQguU034djmfgMjPPcn3sj8zLqZzk")
    }
}
