/// The fields of `XCPQ JOIN` (docs/CPQ.md, "Join"): a gateway without a certificate asks
/// the manager for one with the pairing token an admin made for it, without sending the
/// token itself.
public struct CPQJoinRequest: Hashable, Sendable {
    /// The gateway name the token was made for (`lazaret manager pair --name`), `[A-Za-z0-9._-]`, 1–64.
    public var gateway: String
    /// `PROOF`: HMAC-SHA256, as 64 lower-case hex digits, keyed with the SHA-256 of the
    /// token, over `cpq-join-v1 gateway <name> <sha256 of the manager certificate the
    /// gateway saw in this TLS session>` — a man in the middle can neither forge it nor
    /// reuse it with the real manager.
    public var proof: String
    /// `LISTENER`: where the gateway's cpq_listener takes releases (`HOST:PORT`, xtext), if given.
    public var listener: String?
    /// `SSH`: where the gateway's admin SSH server answers (`HOST:PORT`, xtext), if it runs one.
    public var ssh: String?
    /// `SSHKEY`: the gateway's SSH host key, the base64 key blob of its OpenSSH public key
    /// line (`ssh-ed25519 <this>`), which the manager pins. Comes with `SSH`.
    public var sshKey: String?

    public init(gateway: String, proof: String, listener: String? = nil, ssh: String? = nil, sshKey: String? = nil) {
        self.gateway = gateway
        self.proof = proof
        self.listener = listener
        self.ssh = ssh
        self.sshKey = sshKey
    }
}

/// What the manager answers a good `XCPQ JOIN`: the gateway's join bundle
/// (`cpq-join-v1:...`: certificate, key, CA, manager pin) and its own proof over it.
public struct CPQJoinAnswer: Hashable, Sendable {
    public var bundle: String
    /// HMAC-SHA256 (64 hex) with the same key over `cpq-join-v1 manager <bundle>`.
    public var proof: String

    public init(bundle: String, proof: String) {
        self.bundle = bundle
        self.proof = proof
    }
}
