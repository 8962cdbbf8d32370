import X509

/// What a CPQ leaf certificate may be used for (its extendedKeyUsage).
/// Gateways and the manager are both: each listens (`cpq_listener`) and
/// connects to the other.
public enum CPQCertificateUsage: String, Hashable, Sendable, Codable, CaseIterable {
    /// A TLS server (`serverAuth`).
    case server
    /// A TLS client (`clientAuth`).
    case client
    /// Both (`serverAuth`, `clientAuth`).
    case both

    var extendedKeyUsages: [ExtendedKeyUsage.Usage] {
        switch self {
        case .server: [.serverAuth]
        case .client: [.clientAuth]
        case .both: [.serverAuth, .clientAuth]
        }
    }

    /// Whether a certificate with this usage may act as `role` requires.
    public func allows(_ other: CPQCertificateUsage) -> Bool {
        self == .both || self == other
    }

    /// The usage a certificate's extendedKeyUsage grants; nil when it grants neither.
    init?(_ certificate: Certificate) {
        guard let usages = try? certificate.extensions.extendedKeyUsage else { return nil }
        let server = usages.contains(.serverAuth)
        let client = usages.contains(.clientAuth)
        switch (server, client) {
        case (true, true): self = .both
        case (true, false): self = .server
        case (false, true): self = .client
        case (false, false): return nil
        }
    }
}
