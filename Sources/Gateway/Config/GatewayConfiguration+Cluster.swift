import Foundation

extension GatewayConfiguration {
    /// Gateways that share one configuration file (top-level key `cluster`): everything in
    /// the file is common, and each machine may override interfaces (by name: a machine's
    /// `Management` replaces the shared `Management`; new names are added) and its
    /// hostname. The machine a process is comes from `LAZARET_MACHINE`, else `cluster.machine`,
    /// else the first label of the host name.
    ///
    /// Every interface the listeners and the cpq_listener name must exist on every machine;
    /// loading the file reports each mismatch by machine and interface name.
    public struct Cluster: Hashable, Sendable {
        /// One gateway of the cluster and what it overrides.
        public struct Machine: Hashable, Sendable {
            public var name: String
            public var hostname: String?
            public var interfaces: [Interface]

            public init(name: String, hostname: String? = nil, interfaces: [Interface] = []) {
                self.name = name
                self.hostname = hostname
                self.interfaces = interfaces
            }
        }

        public var name: String
        public var machines: [Machine]
        /// The machine this configuration was loaded for.
        public var machine: String
        /// The interfaces of the file itself, before this machine's overrides.
        public var sharedInterfaces: [Interface] = []
        /// The hostname of the file itself.
        public var sharedHostname: String = ""

        public init(name: String, machines: [Machine], machine: String) {
            self.name = name
            self.machines = machines
            self.machine = machine
        }

        /// The interfaces of `machine`: the shared ones with its overrides.
        public func interfaces(of machine: Machine) -> [Interface] {
            var result = sharedInterfaces
            for interface in machine.interfaces {
                if let index = result.firstIndex(where: { $0.name == interface.name }) {
                    result[index] = interface
                } else {
                    result.append(interface)
                }
            }
            return result
        }
    }

    /// The machine named by `LAZARET_MACHINE`, else `fallback`, else this host's short name.
    static func machineName(fallback: String?) -> String {
        if let name = ProcessInfo.processInfo.environment["LAZARET_MACHINE"], !name.isEmpty { return name }
        if let fallback, !fallback.isEmpty { return fallback }
        return String(ProcessInfo.processInfo.hostName.split(separator: ".").first ?? "")
    }

    /// Applies this machine's overrides (interfaces, hostname) of `cluster`.
    mutating func applyCluster(_ cluster: Cluster) {
        var cluster = cluster
        cluster.sharedInterfaces = interfaces
        cluster.sharedHostname = hostname
        if let machine = cluster.machines.first(where: { $0.name == cluster.machine }) {
            interfaces = cluster.interfaces(of: machine)
            if let name = machine.hostname { hostname = name }
        }
        self.cluster = cluster
    }

    /// The problems of the `cluster` section: unknown machine, duplicate names, and every
    /// machine that lacks an interface the cpq_listener or a listener names.
    func clusterProblems() -> [String] {
        guard let cluster else { return [] }
        var problems: [String] = []
        if cluster.name.isEmpty { problems.append("cluster.name: is empty") }
        if cluster.machines.isEmpty { problems.append("cluster.machines: a cluster needs at least one machine") }
        var seen = Set<String>()
        for (index, machine) in cluster.machines.enumerated() where !seen.insert(machine.name).inserted || machine.name.isEmpty {
            problems.append("cluster.machines[\(index)].name: \(machine.name.isEmpty ? "is empty" : "\"\(machine.name)\" is already the name of another machine")")
        }
        if !cluster.machines.isEmpty, !cluster.machines.contains(where: { $0.name == cluster.machine }) {
            problems.append("cluster: this machine is \"\(cluster.machine)\", which is not one of cluster \(cluster.name)'s machines (\(cluster.machines.map(\.name).joined(separator: ", "))); set LAZARET_MACHINE or cluster.machine")
        }
        let cpqInterface = cpq.listenerInterface ?? cluster.sharedInterfaces.first?.name
        for machine in cluster.machines {
            let names = cluster.interfaces(of: machine).map(\.name)
            let has = names.isEmpty ? "none" : names.joined(separator: ", ")
            for (index, interface) in machine.interfaces.enumerated() where IPAddress(interface.address) == nil {
                problems.append("cluster.machines[\(machine.name)].interfaces[\(index)].address: \"\(interface.address)\" is not an IP address")
            }
            if let cpqInterface, !names.contains(cpqInterface) {
                problems.append("cluster \(cluster.name): machine \(machine.name) has no interface \"\(cpqInterface)\", which the cpq_listener uses (cpq.listener_interface); its interfaces: \(has)")
            }
            for listener in listeners where !names.contains(listener.interface) && listener.interface != cpqInterface {
                problems.append("cluster \(cluster.name): machine \(machine.name) has no interface \"\(listener.interface)\", which listener \(listener.name) uses; its interfaces: \(has)")
            }
        }
        return problems
    }
}

extension GatewayConfiguration.Cluster: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, machine, machines
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let machine = GatewayConfiguration.machineName(fallback: try container.decodeIfPresent(String.self, forKey: .machine))
        self.init(name: try container.decode(String.self, forKey: .name),
                  machines: try container.value(.machines, default: []), machine: machine)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(machine, forKey: .machine)
        try container.encode(machines, forKey: .machines)
    }
}

extension GatewayConfiguration.Cluster.Machine: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, hostname, interfaces
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try container.decode(String.self, forKey: .name),
                  hostname: try container.decodeIfPresent(String.self, forKey: .hostname),
                  interfaces: try container.value(.interfaces, default: []))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encodeIfPresent(hostname, forKey: .hostname)
        try container.encode(interfaces, forKey: .interfaces)
    }
}
