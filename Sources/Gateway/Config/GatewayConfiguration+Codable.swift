/// Renders a coding path the way error messages name fields: `listeners[0].port`.
enum ConfigurationPath {
    static func render(_ path: [any CodingKey]) -> String {
        var out = ""
        for key in path {
            if let index = key.intValue {
                out += "[\(index)]"
            } else {
                out += out.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        return out
    }
}

/// Any key, to list the keys a mapping holds.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { self.stringValue = String(intValue); self.intValue = intValue }
}

extension Decoder {
    /// Throws a `ConfigurationError` naming the first key that is not one of `Keys`.
    func rejectUnknownKeys<Keys: CodingKey & CaseIterable>(_: Keys.Type) throws {
        let container = try self.container(keyedBy: AnyKey.self)
        let known = Keys.allCases.map(\.stringValue)
        for key in container.allKeys where !known.contains(key.stringValue) {
            throw ConfigurationError(
                "\(ConfigurationPath.render(codingPath + [key])): unknown key (known here: \(known.joined(separator: ", ")))"
            )
        }
    }
}

extension KeyedDecodingContainer {
    /// The value, or `fallback` when the key is missing or null.
    func value<T: Decodable>(_ key: Key, default fallback: @autoclosure () -> T) throws -> T {
        try decodeIfPresent(T.self, forKey: key) ?? fallback()
    }

    /// One of an enum's raw values, with an error listing the choices.
    func choice<E: RawRepresentable & CaseIterable>(_ key: Key, default fallback: E) throws -> E where E.RawValue == String {
        guard let text = try decodeIfPresent(String.self, forKey: key) else { return fallback }
        guard let value = E(rawValue: text) else {
            let choices = E.allCases.map(\.rawValue).joined(separator: " | ")
            throw ConfigurationError("\(ConfigurationPath.render(codingPath + [key])): \"\(text)\" is not one of \(choices)")
        }
        return value
    }
}

extension GatewayConfiguration: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case hostname, interfaces, listeners, destinations, delivery, spool, logs
        case quarantines
        case quarantineDestination = "quarantine_destination"
        case messageFilters = "message_filters"
        case mailPolicies = "mail_policies"
        case antivirus, outbreak
        case scanWorkers = "scan_workers"
        case cpq
        case cluster
        case controlSocket = "control_socket"
    }

    /// Decodes the file; `home` comes from `userInfo[.gatewayHome]`. Does not
    /// validate: `parse(yaml:home:)` and `load(path:)` do.
    public init(from decoder: any Decoder) throws {
        let home = decoder.userInfo[.gatewayHome] as? String ?? "."
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let defaults = GatewayConfiguration.defaults(home: home)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            home: home,
            hostname: try container.value(.hostname, default: defaults.hostname),
            interfaces: try container.value(.interfaces, default: defaults.interfaces),
            listeners: try container.value(.listeners, default: defaults.listeners),
            destinations: try container.value(.destinations, default: defaults.destinations),
            delivery: try container.value(.delivery, default: defaults.delivery),
            spool: try container.value(.spool, default: defaults.spool),
            logs: try container.value(.logs, default: defaults.logs)
        )
        let scan = GatewayConfiguration.ScanningSettings()
        scanning = GatewayConfiguration.ScanningSettings(
            quarantines: try container.value(.quarantines, default: scan.quarantines),
            quarantineDestination: try container.value(.quarantineDestination, default: scan.quarantineDestination),
            messageFilters: try container.value(.messageFilters, default: scan.messageFilters),
            mailPolicies: try container.value(.mailPolicies, default: scan.mailPolicies),
            antivirus: try container.value(.antivirus, default: scan.antivirus),
            outbreak: try container.value(.outbreak, default: scan.outbreak),
            workers: try container.value(.scanWorkers, default: scan.workers))
        cpq = try container.value(.cpq, default: GatewayConfiguration.CPQSettings())
        if let cluster = try container.decodeIfPresent(Cluster.self, forKey: .cluster) { applyCluster(cluster) }
        controlSocket = try container.value(.controlSocket, default: defaults.controlSocket)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        // In a cluster: the file's own interfaces and hostname, not this machine's.
        try container.encode(cluster?.sharedHostname ?? hostname, forKey: .hostname)
        try container.encode(cluster?.sharedInterfaces ?? interfaces, forKey: .interfaces)
        try container.encode(listeners, forKey: .listeners)
        try container.encode(destinations, forKey: .destinations)
        try container.encode(delivery, forKey: .delivery)
        try container.encode(spool, forKey: .spool)
        try container.encode(logs, forKey: .logs)
        try container.encode(scanning.quarantines, forKey: .quarantines)
        try container.encode(scanning.quarantineDestination, forKey: .quarantineDestination)
        try container.encode(scanning.messageFilters, forKey: .messageFilters)
        try container.encode(scanning.mailPolicies, forKey: .mailPolicies)
        try container.encode(scanning.antivirus, forKey: .antivirus)
        try container.encode(scanning.outbreak, forKey: .outbreak)
        try container.encode(scanning.workers, forKey: .scanWorkers)
        try container.encode(cpq, forKey: .cpq)
        try container.encodeIfPresent(cluster, forKey: .cluster)
        try container.encode(controlSocket, forKey: .controlSocket)
    }
}

extension GatewayConfiguration.Interface: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, address
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try container.decode(String.self, forKey: .name), address: try container.decode(String.self, forKey: .address))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(address, forKey: .address)
    }
}

extension GatewayConfiguration.TLSFiles: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case certificate, key
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(certificate: try container.decode(String.self, forKey: .certificate), key: try container.decode(String.self, forKey: .key))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(certificate, forKey: .certificate)
        try container.encode(key, forKey: .key)
    }
}

extension GatewayConfiguration.Listener: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, `protocol`, interface, port, type
        case maxConnections = "max_connections"
        case greetingDelayMilliseconds = "greeting_delay_ms"
        case tls, hat, rat
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = GatewayConfiguration.Listener(name: "", interface: "", port: 0)
        self.init(
            name: try container.decode(String.self, forKey: .name),
            protocol: try container.choice(.protocol, default: defaults.protocol),
            interface: try container.decode(String.self, forKey: .interface),
            port: try container.decode(Int.self, forKey: .port),
            type: try container.choice(.type, default: defaults.type),
            maxConnections: try container.value(.maxConnections, default: defaults.maxConnections),
            greetingDelayMilliseconds: try container.value(.greetingDelayMilliseconds, default: defaults.greetingDelayMilliseconds),
            tls: try container.decodeIfPresent(GatewayConfiguration.TLSFiles.self, forKey: .tls),
            hat: try container.value(.hat, default: defaults.hat),
            rat: try container.value(.rat, default: defaults.rat)
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(`protocol`.rawValue, forKey: .protocol)
        try container.encode(interface, forKey: .interface)
        try container.encode(port, forKey: .port)
        try container.encode(type.rawValue, forKey: .type)
        try container.encode(maxConnections, forKey: .maxConnections)
        try container.encode(greetingDelayMilliseconds, forKey: .greetingDelayMilliseconds)
        try container.encodeIfPresent(tls, forKey: .tls)
        try container.encode(hat, forKey: .hat)
        try container.encode(rat, forKey: .rat)
    }
}

extension GatewayConfiguration.Destination: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, host, port
        case maxConnections = "max_connections"
        case tls
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = GatewayConfiguration.Destination(name: "", host: "")
        self.init(
            name: try container.decode(String.self, forKey: .name),
            host: try container.decode(String.self, forKey: .host),
            port: try container.value(.port, default: defaults.port),
            maxConnections: try container.value(.maxConnections, default: defaults.maxConnections),
            tls: try container.choice(.tls, default: defaults.tls)
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(host, forKey: .host)
        try container.encode(port, forKey: .port)
        try container.encode(maxConnections, forKey: .maxConnections)
        try container.encode(tls.rawValue, forKey: .tls)
    }
}

extension GatewayConfiguration.Delivery: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case defaultDestination = "default_destination"
        case maxQueueLifetimeSeconds = "max_queue_lifetime_s"
        case retryInitialSeconds = "retry_initial_s"
        case retryMaxSeconds = "retry_max_s"
        case hostDownAfterFailures = "host_down_after_failures"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = GatewayConfiguration.Delivery()
        self.init(
            defaultDestination: try container.decodeIfPresent(String.self, forKey: .defaultDestination),
            maxQueueLifetimeSeconds: try container.value(.maxQueueLifetimeSeconds, default: defaults.maxQueueLifetimeSeconds),
            retryInitialSeconds: try container.value(.retryInitialSeconds, default: defaults.retryInitialSeconds),
            retryMaxSeconds: try container.value(.retryMaxSeconds, default: defaults.retryMaxSeconds),
            hostDownAfterFailures: try container.value(.hostDownAfterFailures, default: defaults.hostDownAfterFailures)
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(defaultDestination, forKey: .defaultDestination)
        try container.encode(maxQueueLifetimeSeconds, forKey: .maxQueueLifetimeSeconds)
        try container.encode(retryInitialSeconds, forKey: .retryInitialSeconds)
        try container.encode(retryMaxSeconds, forKey: .retryMaxSeconds)
        try container.encode(hostDownAfterFailures, forKey: .hostDownAfterFailures)
    }
}

extension GatewayConfiguration.SpoolSettings: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case directory, fsync
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = GatewayConfiguration.SpoolSettings()
        self.init(
            directory: try container.value(.directory, default: defaults.directory),
            fsync: try container.value(.fsync, default: defaults.fsync)
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(directory, forKey: .directory)
        try container.encode(fsync, forKey: .fsync)
    }
}

extension GatewayConfiguration.Logs: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case mailLogs = "mail_logs"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(mailLogs: try container.value(.mailLogs, default: GatewayConfiguration.Logs().mailLogs))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(mailLogs, forKey: .mailLogs)
    }
}
