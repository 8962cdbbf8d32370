import Foundation

/// The gateways paired with this manager (a JSON file, mode 0600): the
/// manager's `cpq_listener` accepts a client certificate only when its
/// fingerprint is here, and the manager looks up a gateway's `cpq_listener`
/// here to deliver releases. Pairing a name again replaces its record (and so
/// shuts out the certificate it had before).
public struct PairedGateways: Sendable {
    struct File: Codable, Sendable {
        var version = 1
        var gateways: [PairingRecord] = []
    }

    private let store: JSONFileStore<File>

    /// The registry file at `path` (created on first change).
    public init(path: String) {
        store = JSONFileStore(path: path, empty: { File() })
    }

    /// Every paired gateway, in the order they paired.
    public func all() throws -> [PairingRecord] {
        try store.read().gateways
    }

    /// The gateway called `name` (any case).
    public func record(named name: String) throws -> PairingRecord? {
        try store.read().gateways.first { GatewayName.same($0.gatewayName, name) }
    }

    /// The gateway whose certificate has this fingerprint.
    public func record(fingerprint: CPQFingerprint) throws -> PairingRecord? {
        try store.read().gateways.first { $0.certificateFingerprint == fingerprint }
    }

    /// Whether a certificate with this fingerprint belongs to a paired gateway.
    /// An unreadable registry pairs nobody (the connection is refused; the
    /// throwing ``record(fingerprint:)`` says why).
    public func isPaired(fingerprint: CPQFingerprint) -> Bool {
        (try? record(fingerprint: fingerprint)) != nil
    }

    /// Whether a gateway of that name is paired.
    public func isPaired(name: String) -> Bool {
        (try? record(named: name)) != nil
    }

    /// Adds `record`, replacing any record of the same gateway name.
    public func add(_ record: PairingRecord) throws {
        guard record.certificateFingerprint != nil else {
            throw CPQTLSError(.invalidStore, "gateway \(record.gatewayName) has no certificate yet; issue it before adding it to the registry")
        }
        try store.update { file in
            file.gateways.removeAll { GatewayName.same($0.gatewayName, record.gatewayName) }
            file.gateways.append(record)
        }
    }

    /// Sets where the gateway's `cpq_listener` is; throws when it is not paired.
    public func setListener(_ listener: PairingRecord.Listener?, forGateway name: String) throws {
        try store.update { file in
            guard let index = file.gateways.firstIndex(where: { GatewayName.same($0.gatewayName, name) }) else {
                throw CPQTLSError(.invalidName, "no paired gateway is called \"\(name)\"")
            }
            file.gateways[index].cpqListener = listener
        }
    }

    /// Sets (or with nil forgets) the gateway's SSH server and pinned host key; throws when
    /// it is not paired.
    public func setSSH(_ ssh: PairingRecord.SSHEndpoint?, forGateway name: String) throws {
        try store.update { file in
            guard let index = file.gateways.firstIndex(where: { GatewayName.same($0.gatewayName, name) }) else {
                throw CPQTLSError(.invalidName, "no paired gateway is called \"\(name)\"")
            }
            file.gateways[index].ssh = ssh
        }
    }

    /// Unpairs a gateway: its certificate is no longer accepted. Returns its record.
    @discardableResult
    public func remove(name: String) throws -> PairingRecord? {
        try store.update { file in
            guard let index = file.gateways.firstIndex(where: { GatewayName.same($0.gatewayName, name) }) else { return nil }
            return file.gateways.remove(at: index)
        }
    }
}
