import Crypto
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSH

/// What a command run over SSH answered.
public struct SSHCommandResult: Hashable, Sendable {
    public var exitStatus: Int
    public var stdout: String
    public var stderr: String

    public init(exitStatus: Int, stdout: String, stderr: String) {
        self.exitStatus = exitStatus
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// Runs one command on a role's SSH server by exec request, the way the manager asks a
/// paired gateway `interfaceconfig --json`. The server's host key must match the pinned
/// one, or nothing is sent. Logs in with an Ed25519 key.
public struct SSHCommandClient: Sendable {
    /// How long a whole run may take unless told otherwise (30 s).
    public static let defaultTimeout: TimeAmount = .seconds(30)
    /// Largest output kept per stream (16 MiB); the rest is dropped.
    public static let maximumOutputBytes = 16 << 20

    public var host: String
    public var port: Int
    public var user: String
    /// The Ed25519 key it logs in with, and its fingerprint (for error messages).
    public let key: NIOSSHPrivateKey
    public let keyFingerprint: String
    public var pinnedHostKey: PinnedHostKey
    public var timeout: TimeAmount
    public var group: any EventLoopGroup

    public init(host: String, port: Int, user: String, key: Curve25519.Signing.PrivateKey, pinnedHostKey: PinnedHostKey,
                timeout: TimeAmount = SSHCommandClient.defaultTimeout,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.host = host
        self.port = port
        self.user = user
        self.key = NIOSSHPrivateKey(ed25519Key: key)
        self.keyFingerprint = OpenSSHKeyFile.fingerprint(blob: OpenSSHKeyFile.publicKeyBlob(key.publicKey))
        self.pinnedHostKey = pinnedHostKey
        self.timeout = timeout
        self.group = group
    }

    /// Runs `command` (split by the server like a shell would) and answers its exit status
    /// and output.
    ///
    /// - Throws: `SSHError` `.connectionRefused`, `.hostKeyMismatch` (naming the expected and
    ///   the presented fingerprint; no command sent), `.authenticationRefused`, `.timedOut`,
    ///   `.connectionClosed`.
    public func run(_ command: String) async throws -> SSHCommandResult {
        let target = "\(host):\(port)"
        let eventLoop = group.next()
        let outcome = SSHExecOutcome(eventLoop.makePromise(of: SSHCommandResult.self))
        let hostKeys = PinnedHostKeyDelegate(pinned: pinnedHostKey, target: target, outcome: outcome)
        let auth = PrivateKeyAuthDelegate(user: user, key: key, fingerprint: keyFingerprint, target: target, outcome: outcome)
        let connection: any Channel
        do {
            connection = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(timeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(NIOSSHHandler(
                            role: .client(.init(userAuthDelegate: auth, serverAuthDelegate: hostKeys)),
                            allocator: channel.allocator, inboundChildChannelInitializer: nil))
                        try channel.pipeline.syncOperations.addHandler(SSHClientErrorHandler(outcome: outcome, target: target))
                    }
                }
                .connect(host: host, port: port).get()
        } catch let error as ChannelError where error == .connectTimeout(timeout) {
            throw SSHError(.timedOut, "SSH \(target): no connection within \(Self.seconds(timeout)); check the address, the port (ssh.port) and firewalls")
        } catch {
            throw SSHError(.connectionRefused, "SSH \(target): cannot connect (\(error)); is the role running with ssh enabled, and are ssh.listen and ssh.port right?")
        }
        let timer = eventLoop.scheduleTask(in: timeout) {
            outcome.fail(SSHError(.timedOut, "SSH \(target): no answer within \(Self.seconds(timeout)); the command may still run there; check the role's log"))
            connection.close(promise: nil)
        }
        connection.closeFuture.whenComplete { _ in
            outcome.fail(SSHError(.connectionClosed, "SSH \(target): the connection closed before the command finished; see the server's log"))
        }
        eventLoop.execute {
            do {
                let ssh = try connection.pipeline.syncOperations.handler(type: NIOSSHHandler.self)
                ssh.createChannel(nil, channelType: .session) { child, _ in
                    child.eventLoop.makeCompletedFuture {
                        try child.pipeline.syncOperations.addHandler(SSHExecCollector(command: command, outcome: outcome))
                    }
                }
            } catch {
                outcome.fail(SSHError(.connectionClosed, "SSH \(target): \(error)"))
            }
        }
        defer {
            timer.cancel()
            connection.close(promise: nil)
        }
        return try await outcome.promise.futureResult.get()
    }

    static func seconds(_ amount: TimeAmount) -> String {
        "\(amount.nanoseconds / 1_000_000_000) s"
    }
}

/// The one result of a run: the first success or failure wins.
final class SSHExecOutcome: Sendable {
    let promise: EventLoopPromise<SSHCommandResult>
    private let done = NIOLockedValueBox(false)

    init(_ promise: EventLoopPromise<SSHCommandResult>) { self.promise = promise }

    private func claim() -> Bool {
        done.withLockedValue { done in
            defer { done = true }
            return !done
        }
    }

    func succeed(_ result: SSHCommandResult) { if claim() { promise.succeed(result) } }
    func fail(_ error: any Error) { if claim() { promise.fail(error) } }
}

/// Accepts only the pinned host key.
final class PinnedHostKeyDelegate: NIOSSHClientServerAuthenticationDelegate, Sendable {
    let pinned: PinnedHostKey
    let target: String
    let outcome: SSHExecOutcome

    init(pinned: PinnedHostKey, target: String, outcome: SSHExecOutcome) {
        self.pinned = pinned
        self.target = target
        self.outcome = outcome
    }

    func validateHostKey(hostKey: NIOSSHPublicKey, validationCompletePromise: EventLoopPromise<Void>) {
        let presented = PinnedHostKey.fingerprint(of: hostKey)
        if presented == pinned.fingerprint {
            validationCompletePromise.succeed(())
        } else {
            let error = SSHError(.hostKeyMismatch, "SSH \(target): host key mismatch: expected \(pinned.fingerprint), the server presented \(presented); nothing was sent. If the host was reinstalled, pin its new key (`lazaret ssh fingerprint` on that host); otherwise something else answers on this address")
            outcome.fail(error)
            validationCompletePromise.fail(error)
        }
    }
}

/// Offers the key once; asked again, the server refused it.
final class PrivateKeyAuthDelegate: NIOSSHClientUserAuthenticationDelegate, Sendable {
    let user: String
    let key: NIOSSHPrivateKey
    let fingerprint: String
    let target: String
    let outcome: SSHExecOutcome
    private let offered = NIOLockedValueBox(false)

    init(user: String, key: NIOSSHPrivateKey, fingerprint: String, target: String, outcome: SSHExecOutcome) {
        self.user = user
        self.key = key
        self.fingerprint = fingerprint
        self.target = target
        self.outcome = outcome
    }

    func nextAuthenticationType(availableMethods: NIOSSHAvailableUserAuthenticationMethods,
                                nextChallengePromise: EventLoopPromise<NIOSSHUserAuthenticationOffer?>) {
        let first = offered.withLockedValue { offered in
            defer { offered = true }
            return !offered
        }
        guard first, availableMethods.contains(.publicKey) else {
            let error = SSHError(.authenticationRefused, "SSH \(target): user \"\(user)\" with key \(fingerprint) was refused; add the key's public line to that user's ssh.users authorized_keys there")
            outcome.fail(error)
            nextChallengePromise.fail(error)
            return
        }
        nextChallengePromise.succeed(NIOSSHUserAuthenticationOffer(username: user, serviceName: "", offer: .privateKey(.init(privateKey: key))))
    }
}

/// Any error on the connection ends the run with it (the delegates have already said
/// what failed when it was the host key or the login).
final class SSHClientErrorHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = Any
    let outcome: SSHExecOutcome
    let target: String

    init(outcome: SSHExecOutcome, target: String) {
        self.outcome = outcome
        self.target = target
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        outcome.fail(SSHError(.connectionClosed, "SSH \(target): \(error)"))
        context.close(promise: nil)
    }
}

/// The session channel of one run: sends the exec request, collects stdout, stderr and the
/// exit status, and answers them when the server closes the channel.
final class SSHExecCollector: ChannelInboundHandler {
    typealias InboundIn = SSHChannelData

    let command: String
    let outcome: SSHExecOutcome
    private var stdout: [UInt8] = []
    private var stderr: [UInt8] = []
    private var exitStatus: Int?

    init(command: String, outcome: SSHExecOutcome) {
        self.command = command
        self.outcome = outcome
    }

    func handlerAdded(context: ChannelHandlerContext) {
        context.channel.setOption(ChannelOptions.allowRemoteHalfClosure, value: true).assumeIsolated().whenFailure { error in
            context.fireErrorCaught(error)
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        let outcome = self.outcome
        context.triggerUserOutboundEvent(SSHChannelRequestEvent.ExecRequest(command: command, wantReply: false)).assumeIsolated().whenFailure { error in
            outcome.fail(SSHError(.connectionClosed, "SSH: the exec request failed: \(error)"))
            context.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = unwrapInboundIn(data)
        guard case .byteBuffer(let buffer) = message.data else { return }
        switch message.type {
        case .channel:
            stdout += buffer.readableBytesView.prefix(max(0, SSHCommandClient.maximumOutputBytes - stdout.count))
        case .stdErr:
            stderr += buffer.readableBytesView.prefix(max(0, SSHCommandClient.maximumOutputBytes - stderr.count))
        default:
            break
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let status = event as? SSHChannelRequestEvent.ExitStatus {
            exitStatus = status.exitStatus
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let exitStatus {
            outcome.succeed(SSHCommandResult(exitStatus: exitStatus, stdout: String(decoding: stdout, as: UTF8.self),
                                             stderr: String(decoding: stderr, as: UTF8.self)))
        } else {
            outcome.fail(SSHError(.connectionClosed, "SSH: the server closed the session without an exit status; see its log"))
        }
        context.fireChannelInactive()
    }
}
