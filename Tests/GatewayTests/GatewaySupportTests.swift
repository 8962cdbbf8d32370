import Foundation
import NIOCore
import NIOSSL
import Testing
@testable import Gateway

@Suite struct HeaderSummaryTests {
    @Test func readsSubjectAndMessageIDFromTheHeaderOnly() {
        let body = ByteBuffer(string: "Received: x\r\nSubject: hello\r\n  world\r\nMessage-ID: <a@b>\r\n\r\nSubject: not a header\r\n")
        let summary = HeaderSummary(body)
        #expect(summary.subject == "hello world")
        #expect(summary.messageID == "<a@b>")
    }

    @Test func controlCharactersAndQuotesNeverReachTheLog() {
        let summary = HeaderSummary(ByteBuffer(string: "Subject: it's\u{1b}[31m red\r\n\r\n"))
        #expect(summary.subject == "it s [31m red")
    }

    @Test func noHeaderNoCrash() {
        #expect(HeaderSummary(ByteBuffer()).subject == nil)
        #expect(HeaderSummary(ByteBuffer(string: "garbage without newline")).subject == nil)
    }
}

@Suite struct SelfSignedCertificateTests {
    @Test func makesALoadableCertificateOnceAndKeepsIt() throws {
        let dir = NSTemporaryDirectory() + "lazaret-tls-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cert = dir + "/tls/cert.pem", key = dir + "/tls/key.pem"
        #expect(try SelfSignedCertificate.ensure(certificatePath: cert, keyPath: key, hostname: "gw.example"))
        #expect(try !SelfSignedCertificate.ensure(certificatePath: cert, keyPath: key, hostname: "gw.example"))
        let attributes = try FileManager.default.attributesOfItem(atPath: key)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let chain = try NIOSSLCertificate.fromPEMFile(cert)
        #expect(chain.count == 1)
        _ = try NIOSSLPrivateKey(file: key, format: .pem)
    }
}

@Suite struct ReverseDNSTests {
    @Test func loopbackResolvesAndIsForwardConfirmed() throws {
        let result = ReverseDNS.resolve("127.0.0.1")
        let name = try #require(result.hostname)
        #expect(!name.isEmpty)
        #expect(result.verified)
    }

    @Test func garbageIsUnknownNotACrash() {
        #expect(ReverseDNS.resolve("not-an-ip") == ReverseDNSResult(hostname: nil, verified: false))
    }
}

@Suite struct RFC5322DateTests {
    @Test func formatsInUTC() {
        #expect(RFC5322Date.format(0) == "Thu, 01 Jan 1970 00:00:00 +0000")
    }
}
