import NIOCore
import SMTPProtocol

/// The backend a `cpq_listener` serves, which also sets its role.
public enum CPQListenerBackend: Sendable {
    /// The manager's listener: TRANSFER, HOLD, REPORT.
    case manager(any CPQManagerBackend)
    /// A gateway's listener: RELEASE.
    case gateway(any CPQGatewayBackend)

    var role: CPQServerSession.Role {
        switch self {
        case .manager: .manager
        case .gateway: .gateway
        }
    }

    var common: any CPQServerBackend {
        switch self {
        case .manager(let backend): backend
        case .gateway(let backend): backend
        }
    }
}

/// The thin glue between the SMTP server and CPQ: one per connection, an
/// ``SMTPServerDelegate`` that feeds a ``CPQServerSession`` and asks the
/// backend when the session says so. Not Sendable; it lives on the
/// connection's event loop like the handler that owns it.
///
/// ```swift
/// let cpq = CPQServerConfiguration()
/// SMTPServer.bind(host: "10.10.10.1", port: 7025, group: group,
///                 configuration: cpq.smtpConfiguration(.init(listenerName: "cpq_listener", hostname: name, tlsContext: tls))) {
///     CPQServerDelegate(backend: .manager(store), configuration: cpq)
/// }
/// ```
public final class CPQServerDelegate: SMTPServerDelegate {
    private let backend: CPQListenerBackend
    private let configuration: CPQServerConfiguration
    private var session: CPQServerSession

    public init(backend: CPQListenerBackend, configuration: CPQServerConfiguration = CPQServerConfiguration()) {
        self.backend = backend
        self.configuration = configuration
        self.session = CPQServerSession(configuration: .init(
            role: backend.role, requireTLS: configuration.requireTLS, versions: configuration.versions))
    }

    // MARK: - Connection

    public func connectionOpened(_ info: SMTPConnectionInfo, eventLoop: any EventLoop) -> EventLoopFuture<SMTPConnectionDecision> {
        let common = backend.common
        let policy = configuration.policy
        let greeting = configuration.greeting
        return eventLoop.makeFutureWithTask {
            await common.connectionOpened(info, policy: policy, greeting: greeting)
        }
    }

    public func tlsEstablished(_ info: SMTPTLSInfo) {
        session.tlsEstablished(peer: info.peerCertificate)
        backend.common.tlsEstablished(info)
    }

    public func ehloKeywords(tls: Bool) -> [String] {
        session.ehloKeywords(tls: tls)
    }

    public func sessionReset() {
        session.reset()
    }

    public func connectionClosed(reason: String) {
        session.reset()
        backend.common.connectionClosed(reason: reason)
    }

    // MARK: - XCPQ

    public func extensionCommand(_ verb: String, argument: String, transaction: SMTPTransaction?,
                                 eventLoop: any EventLoop) -> EventLoopFuture<SMTPReply> {
        guard verb == CPQDefaults.verb else { return eventLoop.makeSucceededFuture(CPQReplies.notImplemented) }
        return perform(session.command(argument: argument), eventLoop: eventLoop)
    }

    // MARK: - Transaction

    public func mailFrom(_ transaction: SMTPTransaction, eventLoop: any EventLoop) -> EventLoopFuture<SMTPReply> {
        eventLoop.makeSucceededFuture(session.mailFrom())
    }

    public func rcptTo(_ recipient: String, transaction: SMTPTransaction, eventLoop: any EventLoop) -> EventLoopFuture<SMTPReply> {
        eventLoop.makeSucceededFuture(session.rcptTo())
    }

    public func messageReceived(_ transaction: SMTPTransaction, body: ByteBuffer, eventLoop: any EventLoop) -> EventLoopFuture<SMTPReply> {
        perform(session.messageReceived(transaction, body: body), eventLoop: eventLoop)
    }

    public func transactionAborted(_ transaction: SMTPTransaction) {
        session.transactionAborted()
    }

    // MARK: - Carrying out session actions

    private func perform(_ action: CPQServerSession.Action, eventLoop: any EventLoop) -> EventLoopFuture<SMTPReply> {
        switch (action, backend) {
        case (.reply(let reply), _):
            return eventLoop.makeSucceededFuture(reply)
        case (.authorizeTransfer(let header, let peer), .manager(let manager)):
            return ask(eventLoop, { await manager.authorizeTransfer(gateway: header.gateway, peer: peer) }) { result in
                // authorizeTransfer does not throw; a failed task (cancelled) denies.
                self.session.transferAuthorized((try? result.get()) ?? .denied(certificateName: nil))
            }
        case (.authorizeRelease(_, let peer), .gateway(let gateway)):
            return ask(eventLoop, { await gateway.authorizeRelease(peer: peer) }) { result in
                self.session.releaseAuthorized((try? result.get()) ?? .denied(certificateName: nil))
            }
        case (.recordReport(let report, let peer), .manager(let manager)):
            return ask(eventLoop, { try await manager.recordReport(report, peer: peer) }) { result in
                CPQServerSession.reportRecorded(result)
            }
        case (.storeTransfer(let transfer), .manager(let manager)):
            return ask(eventLoop, { try await manager.storeTransfer(transfer) }) { result in
                CPQServerSession.transferStored(transfer.header, result)
            }
        case (.join(let request), .manager(let manager)):
            return ask(eventLoop, { try await manager.join(request) }) { result in
                CPQServerSession.joined(request, result)
            }
        case (.acceptRelease(let release), .gateway(let gateway)):
            return ask(eventLoop, { try await gateway.acceptRelease(release) }) { result in
                CPQServerSession.releaseQueued(release.header, result)
            }
        default:
            // The session only asks what its role takes; never reached.
            session.reset()
            return eventLoop.makeSucceededFuture(CPQReplies.localError)
        }
    }

    /// Runs `work` in a task and turns its result into the reply on the event loop.
    private func ask<Value: Sendable>(_ eventLoop: any EventLoop, _ work: @escaping @Sendable () async throws -> Value,
                                      reply: @escaping (Result<Value, any Error>) -> SMTPReply) -> EventLoopFuture<SMTPReply> {
        let promise = eventLoop.makePromise(of: SMTPReply.self)
        eventLoop.makeFutureWithTask(work)
            .hop(to: eventLoop)
            .assumeIsolated()
            .whenComplete { result in promise.succeed(reply(result)) }
        return promise.futureResult
    }
}

@available(*, unavailable)
extension CPQServerDelegate: Sendable {}
