import CPQ
import CPQTLS
import Crypto
import Foundation
import NIOCore
import NIOPosix
import SMTPProtocol

/// `lazaret gateway join --manager HOST:PORT --token T --name NAME`: joins a manager over
/// the network (docs/CPQ.md, "Join"). Connects to the manager's cpq_listener, STARTTLS
/// without a certificate, proves the pairing token over the manager certificate it sees
/// (`XCPQ JOIN`), checks the manager's proof over the join bundle and the certificate
/// against the bundle's CA, and writes the bundle into the gateway's `cpq.directory`.
public enum GatewayJoin {
    /// What join did: the bundle written and the manager it pinned.
    public struct Result: Sendable {
        public var bundle: CPQJoinBundle
        public var directory: String
    }

    /// The gateway's admin SSH server as it tells the manager at join: where it answers and
    /// its host key, which the manager pins.
    public struct SSHAnnouncement: Sendable {
        /// `HOST:PORT`; a wildcard host means the address the gateway joins from.
        public var address: String
        /// The base64 blob of the `ssh-ed25519` host key.
        public var hostKeyBlob: String

        public init(address: String, hostKeyBlob: String) {
            self.address = address
            self.hostKeyBlob = hostKeyBlob
        }
    }

    public static func join(manager host: String, port: Int, token: String, gatewayName: String, listener: String?,
                            ssh: SSHAnnouncement? = nil, tls: CPQTLSConfiguration, directory: String, localHostname: String,
                            group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> Result {
        guard let key = CPQJoinProof.key(token: token) else {
            throw GatewayError("--token: not a pairing token: expected 32 letters and digits (2-7) as `lazaret manager pair` printed it")
        }
        try GatewayName.check(gatewayName)
        let joinTLS = try CPQJoinTLS(configuration: tls)
        var options = SMTPClientOptions(localHostname: localHostname, tlsContext: joinTLS.sslContext, tlsRequired: true,
                                        connectTimeout: .seconds(15), replyTimeout: .seconds(60), setupTimeout: .seconds(60))
        options.makeTLSHandler = { _, name in try joinTLS.makeHandler(serverHostname: name) }
        let connection: SMTPClientConnection
        do {
            connection = try await SMTPClientConnection.connect(host: host, port: port, group: group, options: options)
        } catch {
            throw GatewayError("cannot reach the manager's cpq_listener at \(host) port \(port): \(error); check the address and that lazaret manager runs there")
        }
        do {
            let result = try await join(over: connection, joinTLS: joinTLS, key: key, gatewayName: gatewayName, listener: listener,
                                        ssh: ssh, host: host, port: port, directory: directory)
            await connection.quit()
            return result
        } catch {
            await connection.quit()
            throw error
        }
    }

    private static func join(over connection: SMTPClientConnection, joinTLS: CPQJoinTLS, key: SymmetricKey, gatewayName: String,
                             listener: String?, ssh: SSHAnnouncement?, host: String, port: Int, directory: String) async throws -> Result {
        guard CPQClient.offersCPQ(connection.extensions) else {
            throw GatewayError("\(host) port \(port) does not offer XCPQ 1: is this a Lazaret manager's cpq_listener?")
        }
        guard let seen = joinTLS.managerFingerprint else {
            throw GatewayError("the manager at \(host) port \(port) showed no certificate")
        }
        let proof = CPQJoinProof.gatewayProof(key: key, gatewayName: gatewayName, managerFingerprint: seen)
        let line = try CPQCommandEncoder.line(for: .join(CPQJoinRequest(gateway: gatewayName, proof: proof, listener: listener,
                                                                                    ssh: ssh?.address, sshKey: ssh?.hostKeyBlob)))
        let reply = try await connection.send(command: line)
        guard reply.isPositiveCompletion else {
            throw GatewayError("the manager refused to pair this gateway: \(reply)")
        }
        guard let answer = CPQReplies.joinAnswer(in: reply) else {
            throw GatewayError("the manager's answer to XCPQ JOIN holds no join bundle")
        }
        guard CPQJoinProof.matches(CPQJoinProof.managerProof(key: key, bundle: answer.bundle), answer.proof) else {
            throw GatewayError("the answer to XCPQ JOIN is not proven with your token: this is not the manager the token came from (or someone is in between); nothing was written")
        }
        let bundle = try CPQJoinBundle(decoding: answer.bundle)
        try bundle.validate()
        guard bundle.managerFingerprint == seen else {
            throw GatewayError("the join bundle pins manager certificate sha256 \(bundle.managerFingerprint.hex), but this connection showed \(seen.hex); nothing was written")
        }
        if let failure = await joinTLS.checkManager(against: try bundle.caCertificate()) {
            throw GatewayError("the manager's certificate does not verify against the CPQ CA in the join bundle (\(failure)); nothing was written")
        }
        try bundle.write(to: directory)
        return Result(bundle: bundle, directory: directory)
    }
}
