
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
        /// The interface (by name, from `interfaces`) the gateway's own `cpq_listener` listens
        /// on for releases from the manager; nil: the first interface.
        public var listenerInterface: String?
        /// Its port (7025; 7125 in `lazaret up`, where the manager has 7025).
        public var listenerPort: Int
        /// Concurrent connections it takes.
        public var listenerMaxConnections: Int
        /// Seconds between attempts to send release reports while the manager cannot be reached.
        public var reportRetrySeconds: Int

        public init(directory: String = "cpq", ciphers: String = CPQTLSConfiguration.defaultCipherList, minimumTLS: String = "TLSv1.2",
                    listenerInterface: String? = nil, listenerPort: Int = 7025, listenerMaxConnections: Int = 20,
                    reportRetrySeconds: Int = 30) {
            self.directory = directory
            self.ciphers = ciphers
            self.minimumTLS = minimumTLS
            self.listenerInterface = listenerInterface
            self.listenerPort = listenerPort
            self.listenerMaxConnections = listenerMaxConnections
            self.reportRetrySeconds = reportRetrySeconds
        }

        /// The TLS configuration these settings describe.
        public func tlsConfiguration() throws -> CPQTLSConfiguration {
            CPQTLSConfiguration(cipherList: ciphers, minimumVersion: try CPQTLSVersion(parsing: minimumTLS, field: "cpq.min_tls"))
        }
    }

    func cpqProblems() -> [String] {
        var problems: [String] = []
        if cpq.directory.isEmpty { problems.append("cpq.directory: is empty") }
        if let name = cpq.listenerInterface, !interfaces.contains(where: { $0.name == name }) {
            problems.append("cpq.listener_interface: \"\(name)\" is not one of the interfaces (\(interfaces.map(\.name).joined(separator: ", ")))")
        }
        if !(0...65535).contains(cpq.listenerPort) { problems.append("cpq.listener_port: \(cpq.listenerPort) is not a port number (1-65535)") }
        if cpq.listenerMaxConnections < 1 { problems.append("cpq.listener_max_connections: \(cpq.listenerMaxConnections) must be at least 1") }
        if cpq.reportRetrySeconds < 1 { problems.append("cpq.report_retry_s: \(cpq.reportRetrySeconds) must be at least 1") }
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
        case listenerInterface = "listener_interface"
        case listenerPort = "listener_port"
        case listenerMaxConnections = "listener_max_connections"
        case reportRetrySeconds = "report_retry_s"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = Self()
        self.init(directory: try c.value(.directory, default: d.directory), ciphers: try c.value(.ciphers, default: d.ciphers),
                  minimumTLS: try c.value(.minimumTLS, default: d.minimumTLS),
                  listenerInterface: try c.decodeIfPresent(String.self, forKey: .listenerInterface),
                  listenerPort: try c.value(.listenerPort, default: d.listenerPort),
                  listenerMaxConnections: try c.value(.listenerMaxConnections, default: d.listenerMaxConnections),
                  reportRetrySeconds: try c.value(.reportRetrySeconds, default: d.reportRetrySeconds))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(directory, forKey: .directory)
        try c.encode(ciphers, forKey: .ciphers)
        try c.encode(minimumTLS, forKey: .minimumTLS)
        try c.encodeIfPresent(listenerInterface, forKey: .listenerInterface)
        try c.encode(listenerPort, forKey: .listenerPort)
        try c.encode(listenerMaxConnections, forKey: .listenerMaxConnections)
        try c.encode(reportRetrySeconds, forKey: .reportRetrySeconds)
    }
}
