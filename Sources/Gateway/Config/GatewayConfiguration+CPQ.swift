import CPQTLS

extension GatewayConfiguration {
    /// The gateway's side of the CPQ link: where `lazaret gateway join` put its
    /// certificate, the CPQ CA and the manager's pin, and the TLS settings.
    public struct CPQSettings: Hashable, Sendable {
        /// Relative to home. Holds gateway.pem, gateway.key, ca.pem, manager.sha256.
        public var directory: String
        /// OpenSSL cipher list syntax.
        public var ciphers: String
        /// `TLSv1.2` or `TLSv1.3`.
        public var minimumTLS: String

        public init(directory: String = "cpq", ciphers: String = CPQTLSConfiguration.defaultCipherList, minimumTLS: String = "TLSv1.2") {
            self.directory = directory
            self.ciphers = ciphers
            self.minimumTLS = minimumTLS
        }

        /// The TLS configuration these settings describe.
        public func tlsConfiguration() throws -> CPQTLSConfiguration {
            CPQTLSConfiguration(cipherList: ciphers, minimumVersion: try CPQTLSVersion(parsing: minimumTLS, field: "cpq.min_tls"))
        }
    }

    func cpqProblems() -> [String] {
        var problems: [String] = []
        if cpq.directory.isEmpty { problems.append("cpq.directory: is empty") }
        do {
            _ = try cpq.tlsConfiguration().validate()
        } catch {
            problems.append("cpq: \(error)")
        }
        return problems
    }
}

extension GatewayConfiguration.CPQSettings: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case directory, ciphers
        case minimumTLS = "min_tls"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = Self()
        self.init(directory: try c.value(.directory, default: d.directory), ciphers: try c.value(.ciphers, default: d.ciphers),
                  minimumTLS: try c.value(.minimumTLS, default: d.minimumTLS))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(directory, forKey: .directory)
        try c.encode(ciphers, forKey: .ciphers)
        try c.encode(minimumTLS, forKey: .minimumTLS)
    }
}
