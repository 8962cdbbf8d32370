import Foundation

extension CPQAuthority {
    /// Pairs a gateway: redeems its token (``PairingTokens/redeem(token:presentedName:from:now:)``),
    /// issues its certificate (client and server, CN = the gateway name, SANs =
    /// the name when it is a host name and the addresses it joined from),
    /// records it in ``pairedGateways`` and returns its join bundle.
    ///
    /// Throws ``PairingError`` for a token that is not good, ``CPQTLSError`` otherwise.
    public func pair(token: String, presentedName: String, from addresses: [String] = [],
                     validity: TimeInterval = CPQDefaults.leafValidity, now: Date = Date()) throws -> CPQJoinBundle {
        try FileLock.withLock(Self.path(directory, Self.lockFile)) {
            var record = try pairingTokens.redeem(token: token, presentedName: presentedName, from: addresses, now: now)
            let name = record.gatewayName
            let identity = try issue(commonName: name, dnsNames: CertificateNames.isHostName(name) ? [name] : [],
                                     ipAddresses: addresses.filter { CertificateNames.addressBytes($0) != nil },
                                     usage: .both, validity: validity, now: now)
            record.certificateFingerprint = identity.fingerprint
            try pairedGateways.add(record)
            return try CPQJoinBundle(gatewayName: name, identity: identity, authority: self)
        }
    }

    /// Pairs a gateway that joined over the network (`XCPQ JOIN`): redeems the token its
    /// `proof` was made with (``PairingTokens/redeem(proof:presentedName:managerFingerprint:from:now:)``,
    /// against this manager's own certificate), issues its certificate as ``pair(token:presentedName:from:validity:now:)``
    /// does, and returns the bundle with the manager's proof over it.
    public func pair(proof: String, presentedName: String, from addresses: [String] = [],
                     validity: TimeInterval = CPQDefaults.leafValidity, now: Date = Date()) throws -> (bundle: CPQJoinBundle, proof: String) {
        try FileLock.withLock(Self.path(directory, Self.lockFile)) {
            var (record, key) = try pairingTokens.redeem(proof: proof, presentedName: presentedName,
                                                         managerFingerprint: managerIdentity.fingerprint, from: addresses, now: now)
            let name = record.gatewayName
            let identity = try issue(commonName: name, dnsNames: CertificateNames.isHostName(name) ? [name] : [],
                                     ipAddresses: addresses.filter { CertificateNames.addressBytes($0) != nil },
                                     usage: .both, validity: validity, now: now)
            record.certificateFingerprint = identity.fingerprint
            try pairedGateways.add(record)
            let bundle = try CPQJoinBundle(gatewayName: name, identity: identity, authority: self)
            return (bundle, CPQJoinProof.managerProof(key: key, bundle: try bundle.encoded()))
        }
    }
}
