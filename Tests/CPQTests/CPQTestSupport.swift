import Foundation
import NIOCore
import NIOSSL
import Scanning
import SMTPProtocol
@testable import CPQ

/// A self-signed certificate made with the openssl tool (CN=localhost).
struct CPQTestCertificate {
    let directory: URL
    var keyPath: String { directory.appendingPathComponent("key.pem").path }
    var certificatePath: String { directory.appendingPathComponent("cert.pem").path }

    struct OpenSSLFailed: Error, CustomStringConvertible {
        var description: String
    }

    init(name: String) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("cpq-tls-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", "/CN=localhost/O=\(name)", "-days", "1", "-keyout", keyPath, "-out", certificatePath,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw OpenSSLFailed(description: "cannot run openssl (is it installed?): \(error)")
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw OpenSSLFailed(description: "openssl req failed with status \(process.terminationStatus)")
        }
    }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }

    var chain: [NIOSSLCertificateSource] {
        get throws { try NIOSSLCertificate.fromPEMFile(certificatePath).map { .certificate($0) } }
    }

    var key: NIOSSLPrivateKeySource {
        get throws { .privateKey(try NIOSSLPrivateKey(file: keyPath, format: .pem)) }
    }

    var peer: SMTPPeerCertificate {
        get throws { SMTPPeerCertificate(der: try NIOSSLCertificate.fromPEMFile(certificatePath)[0].toDERBytes()) }
    }

    /// A server context that requires a client certificate signed by (here: equal to) one of `clients`.
    func serverContext(trusting clients: [CPQTestCertificate]) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: try chain, privateKey: try key)
        configuration.certificateVerification = .noHostnameVerification
        configuration.trustRoots = .certificates(try clients.flatMap { try NIOSSLCertificate.fromPEMFile($0.certificatePath) })
        configuration.minimumTLSVersion = .tlsv12
        return try NIOSSLContext(configuration: configuration)
    }

    /// A client context presenting this certificate and trusting `server` only.
    func clientContext(trusting server: CPQTestCertificate) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(server.certificatePath))
        configuration.certificateChain = try chain
        configuration.privateKey = try key
        configuration.minimumTLSVersion = .tlsv12
        return try NIOSSLContext(configuration: configuration)
    }
}

/// A manager backend in memory: pairs gateway names with certificate
/// fingerprints, stores transfers once per (gateway, transfer id).
final class FakeManagerBackend: CPQManagerBackend, @unchecked Sendable {
    private let lock = NSLock()
    /// Fingerprint → gateway name. Empty means: any peer (tests without TLS) may be any gateway.
    let paired: [String: String]
    private var _transfers: [CPQIncomingTransfer] = []
    private var _qids: [String: String] = [:]
    private var _reports: [CPQReport] = []
    private var _authorizations: [(String, SMTPPeerCertificate?)] = []
    private var _closed: [String] = []
    var failStores = false

    init(paired: [String: String] = [:]) {
        self.paired = paired
    }

    var transfers: [CPQIncomingTransfer] { lock.withLock { _transfers } }
    var reports: [CPQReport] { lock.withLock { _reports } }
    var authorizations: [(String, SMTPPeerCertificate?)] { lock.withLock { _authorizations } }
    var closed: [String] { lock.withLock { _closed } }

    func authorizeTransfer(gateway: String, peer: SMTPPeerCertificate?) async -> CPQAuthorization {
        lock.withLock { _authorizations.append((gateway, peer)) }
        if paired.isEmpty { return .granted }
        guard let peer, let name = paired[peer.fingerprint] else { return .denied(certificateName: nil) }
        return name == gateway ? .granted : .denied(certificateName: name)
    }

    func storeTransfer(_ transfer: CPQIncomingTransfer) async throws -> CPQStoredTransfer {
        struct StoreDown: Error {}
        return try lock.withLock {
            if failStores { throw StoreDown() }
            let key = "\(transfer.header.gateway)/\(transfer.header.transferID)"
            if let qid = _qids[key] { return CPQStoredTransfer(qid: qid, alreadyStored: true) }
            _transfers.append(transfer)
            let qid = "Q" + String(100_000_000 + _transfers.count).dropFirst()
            _qids[key] = qid
            return CPQStoredTransfer(qid: qid)
        }
    }

    func recordReport(_ report: CPQReport, peer: SMTPPeerCertificate?) async throws {
        lock.withLock { _reports.append(report) }
    }

    func connectionClosed(reason: String) {
        lock.withLock { _closed.append(reason) }
    }
}

/// A gateway backend in memory: its manager's fingerprint, releases once per id.
final class FakeGatewayBackend: CPQGatewayBackend, @unchecked Sendable {
    private let lock = NSLock()
    let managerFingerprint: String?
    private var _releases: [CPQIncomingRelease] = []
    private var _mids: [String: UInt64] = [:]

    init(managerFingerprint: String?) {
        self.managerFingerprint = managerFingerprint
    }

    var releases: [CPQIncomingRelease] { lock.withLock { _releases } }

    func authorizeRelease(peer: SMTPPeerCertificate?) async -> CPQAuthorization {
        guard let managerFingerprint else { return .granted }
        return peer?.fingerprint == managerFingerprint ? .granted : .denied(certificateName: nil)
    }

    func acceptRelease(_ release: CPQIncomingRelease) async throws -> CPQQueuedRelease {
        lock.withLock {
            if let mid = _mids[release.header.releaseID] { return CPQQueuedRelease(mid: mid, alreadyQueued: true) }
            _releases.append(release)
            let mid = UInt64(912 + _releases.count)
            _mids[release.header.releaseID] = mid
            return CPQQueuedRelease(mid: mid)
        }
    }
}

/// A small deterministic generator (SplitMix64) so that a failure names its seed.
struct CPQSeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// True when `reply` is a well-formed reply a CPQ server may send.
func isWellFormed(_ reply: SMTPReply) -> Bool {
    // One line, except the answer to XCPQ JOIN (the bundle in lines of 400 characters).
    guard (200..<600).contains(reply.code), reply.lines.count == 1 || reply.lines.first?.hasPrefix("Joined as ") == true
    else { return false }
    if let enhanced = reply.enhanced, enhanced.klass != reply.code / 100 { return false }
    guard reply.code < 300 || reply.enhanced != nil else { return false }
    let lines = reply.wireFormat.split(separator: "\r\n", omittingEmptySubsequences: false).dropLast()
    return lines.count == reply.lines.count
        && lines.allSatisfy { $0.utf8.count <= 510 && $0.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F } }
}
