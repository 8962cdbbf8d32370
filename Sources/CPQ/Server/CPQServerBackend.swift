import SMTPProtocol

/// What a `cpq_listener` needs from the role it serves, besides the protocol.
/// Calls come from the connection's event loop through a task; they may
/// suspend (disk, database). Throw a ``CPQProtocolError`` to answer with
/// its reply; any other error gets the role's temporary failure.
public protocol CPQServerBackend: Sendable {
    /// A new connection (HAT, RELAYLIST of paired peers). Default: accept
    /// with `policy` and `greeting`.
    func connectionOpened(_ info: SMTPConnectionInfo, policy: SMTPSessionPolicy, greeting: String) async -> SMTPConnectionDecision
    /// TLS is up (for mail_logs: `ICID 5 TLS success protocol TLSv1.3 ...`). Default: nothing.
    func tlsEstablished(_ info: SMTPTLSInfo)
    /// The connection is closed. Default: nothing.
    func connectionClosed(reason: String)
}

extension CPQServerBackend {
    public func connectionOpened(_ info: SMTPConnectionInfo, policy: SMTPSessionPolicy, greeting: String) async -> SMTPConnectionDecision {
        .accept(policy, greeting: greeting)
    }

    public func tlsEstablished(_ info: SMTPTLSInfo) {}

    public func connectionClosed(reason: String) {}
}

/// The manager side: takes transfers and reports from paired gateways.
public protocol CPQManagerBackend: CPQServerBackend {
    /// May the peer transfer for `gateway`? The certificate must belong to
    /// the paired gateway of that name (`550 5.7.1` otherwise).
    func authorizeTransfer(gateway: String, peer: SMTPPeerCertificate?) async -> CPQAuthorization
    /// Stores the transfer durably (message and metadata), or finds the one
    /// already stored under its transfer id, and returns its QID. Errors that
    /// are not a ``CPQProtocolError`` answer `452 4.3.1 Quarantine store full, try again later`.
    func storeTransfer(_ transfer: CPQIncomingTransfer) async throws -> CPQStoredTransfer
    /// Records a report, idempotently per (release id, recipient, status).
    /// Check here that the release went to the peer's gateway. Errors that are
    /// not a ``CPQProtocolError`` answer `451 4.3.0`.
    func recordReport(_ report: CPQReport, peer: SMTPPeerCertificate?) async throws
    /// Pairs a gateway that showed no certificate (`XCPQ JOIN`): checks the proof against
    /// the pending pairing tokens for its name, issues its certificate and returns its join
    /// bundle. Throw a ``CPQProtocolError`` (`CPQReplies.joinRefused`) to refuse. Default:
    /// `502 5.5.1 XCPQ JOIN is not offered here`.
    func join(_ request: CPQJoinRequest) async throws -> CPQJoinAnswer
}

extension CPQManagerBackend {
    public func join(_ request: CPQJoinRequest) async throws -> CPQJoinAnswer {
        throw CPQProtocolError(CPQReplies.joinNotOffered)
    }
}

/// The gateway side: takes releases from its manager.
public protocol CPQGatewayBackend: CPQServerBackend {
    /// Is the peer our manager? (`530 5.7.1 Only the manager's certificate may release` otherwise.)
    func authorizeRelease(peer: SMTPPeerCertificate?) async -> CPQAuthorization
    /// Spools the released message (fsync), or finds the release already
    /// accepted under its id, and returns the MID. Errors that are not a
    /// ``CPQProtocolError`` answer `451 4.3.0`.
    func acceptRelease(_ release: CPQIncomingRelease) async throws -> CPQQueuedRelease
}
