import Foundation
import NIOCore
import NIOSSL
import Testing

@testable import CPQTLS

@Suite("TLS failure texts")
struct CPQTLSFailureTests {
    @Test func mailLogPhrases() {
        #expect(CPQTLSFailure(role: .client, reason: .verify(.noCertificate)).description == "verify error: no certificate from server")
        #expect(CPQTLSFailure(role: .server, reason: .verify(.noCertificate)).description == "verify error: no certificate from client")
        #expect(CPQTLSFailure(role: .server, reason: .verify(.notSignedByAuthority)).description
            == "verify error: certificate not signed by the CPQ CA")
        #expect(CPQTLSFailure(role: .client, reason: .noSharedCipher).description == "no shared cipher")
        #expect(CPQTLSFailure(role: .client, reason: .certificateRequired).description == "server requires a client certificate")
    }

    @Test func recordedRefusalWinsOverTheLibraryError() {
        let verification = CPQPeerVerification(role: .client)
        verification.record(.failure(.notSignedByAuthority))
        let failure = verification.failure(for: NIOSSLError.handshakeFailed(.sslError([])))
        #expect(failure.description == "verify error: certificate not signed by the CPQ CA")
        #expect(verification.peer == nil)
        #expect(verification.refusal == .notSignedByAuthority)
    }

    @Test func channelAndNIOSSLErrorsAreClassified() {
        #expect(CPQTLSFailure(error: NIOSSLError.uncleanShutdown, role: .client).reason == .closed)
        #expect(CPQTLSFailure(error: ChannelError.eof, role: .server).reason == .closed)
        struct Library: Error, CustomStringConvertible {
            var description: String
        }
        let refused = Library(description: "handshakeFailed(sslError([Error: 268436502 error:10000416:SSL routines:OPENSSL_internal:SSLV3_ALERT_CERTIFICATE_UNKNOWN at ...]))")
        #expect(CPQTLSFailure(error: refused, role: .client).description == "server refused our certificate (certificate unknown)")
        let odd = Library(description: "handshakeFailed(sslError([Error: 1 error:1:SSL routines:OPENSSL_internal:DECODE_ERROR at x]))")
        #expect(CPQTLSFailure(error: odd, role: .client).description == "decode error")
    }
}
