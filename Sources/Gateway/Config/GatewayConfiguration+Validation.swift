extension GatewayConfiguration {
    /// Checks everything that decoding alone cannot: references between
    /// sections, ranges, unique names and addresses, and that every HAT and
    /// RAT parses. Throws one error listing every problem found.
    public func validate() throws(ConfigurationError) {
        var problems: [String] = []

        if hostname.isEmpty || !SenderGroupMember.isHostname(hostname.lowercased()) {
            problems.append("hostname: \"\(hostname)\" is not a host name")
        }

        if controlSocket.isEmpty {
            problems.append("control_socket: is empty (a path, relative to the gateway's home; the default is control.sock)")
        }

        var interfaceAddresses: [String: IPAddress] = [:]
        for (index, interface) in interfaces.enumerated() {
            let path = "interfaces[\(index)]"
            if interface.name.isEmpty { problems.append("\(path).name: is empty") }
            if interfaceAddresses[interface.name] != nil {
                problems.append("\(path).name: \"\(interface.name)\" is already the name of another interface")
            }
            if let address = IPAddress(interface.address) {
                interfaceAddresses[interface.name] = interfaceAddresses[interface.name] ?? address
            } else {
                problems.append("\(path).address: \"\(interface.address)\" is not an IP address")
            }
        }
        let definedInterfaces = interfaces.map(\.name).joined(separator: ", ")

        var listenerNames = Set<String>()
        var endpoints: [(address: IPAddress, port: Int, listener: String)] = []
        for (index, listener) in listeners.enumerated() {
            let path = "listeners[\(index)]"
            if listener.name.isEmpty { problems.append("\(path).name: is empty") }
            if !listenerNames.insert(listener.name).inserted {
                problems.append("\(path).name: \"\(listener.name)\" is already the name of another listener")
            }
            if !(1...65535).contains(listener.port) {
                problems.append("\(path).port: \(listener.port) is not a port number (1-65535)")
            }
            if listener.maxConnections < 1 {
                problems.append("\(path).max_connections: \(listener.maxConnections) must be at least 1")
            }
            if listener.greetingDelayMilliseconds < 0 {
                problems.append("\(path).greeting_delay_ms: \(listener.greetingDelayMilliseconds) must not be negative")
            }
            if let tls = listener.tls {
                if tls.certificate.isEmpty { problems.append("\(path).tls.certificate: is empty") }
                if tls.key.isEmpty { problems.append("\(path).tls.key: is empty") }
            }
            if let address = interfaceAddresses[listener.interface] {
                if (1...65535).contains(listener.port) {
                    if let clash = endpoints.first(where: { $0.port == listener.port && Self.overlap($0.address, address) }) {
                        problems.append("\(path): \(listener.interface) port \(listener.port) is already used by listener \(clash.listener)")
                    }
                    endpoints.append((address, listener.port, listener.name))
                }
            } else if !interfaces.contains(where: { $0.name == listener.interface }) {
                problems.append("\(path).interface: \"\(listener.interface)\" is not a defined interface (defined: \(definedInterfaces.isEmpty ? "none" : definedInterfaces))")
            }
            let named = "listeners[\(listener.name.isEmpty ? String(index) : listener.name)]"
            do {
                _ = try listener.hostAccessTable()
            } catch {
                problems += error.problems.map { named + ".hat" + Self.dropTablePrefix($0, "HAT") }
            }
            do {
                _ = try listener.recipientAccessTable()
            } catch {
                problems += error.problems.map { named + ".rat" + Self.dropTablePrefix($0, "RAT") }
            }
        }

        var destinationNames = Set<String>()
        for (index, destination) in destinations.enumerated() {
            let path = "destinations[\(index)]"
            if destination.name.isEmpty { problems.append("\(path).name: is empty") }
            if !destinationNames.insert(destination.name).inserted {
                problems.append("\(path).name: \"\(destination.name)\" is already the name of another destination")
            }
            if destination.host.isEmpty { problems.append("\(path).host: is empty") }
            if !(1...65535).contains(destination.port) {
                problems.append("\(path).port: \(destination.port) is not a port number (1-65535)")
            }
            if destination.maxConnections < 1 {
                problems.append("\(path).max_connections: \(destination.maxConnections) must be at least 1")
            }
        }

        if let name = delivery.defaultDestination, !destinationNames.contains(name) {
            let defined = destinations.map(\.name).joined(separator: ", ")
            problems.append("delivery.default_destination: \"\(name)\" is not a defined destination (defined: \(defined.isEmpty ? "none" : defined))")
        }
        if delivery.maxQueueLifetimeSeconds < 1 {
            problems.append("delivery.max_queue_lifetime_s: \(delivery.maxQueueLifetimeSeconds) must be at least 1")
        }
        if delivery.retryInitialSeconds < 1 {
            problems.append("delivery.retry_initial_s: \(delivery.retryInitialSeconds) must be at least 1")
        }
        if delivery.retryMaxSeconds < delivery.retryInitialSeconds {
            problems.append("delivery.retry_max_s: \(delivery.retryMaxSeconds) is less than retry_initial_s (\(delivery.retryInitialSeconds))")
        }
        if delivery.hostDownAfterFailures < 1 {
            problems.append("delivery.host_down_after_failures: \(delivery.hostDownAfterFailures) must be at least 1")
        }
        if spool.directory.isEmpty { problems.append("spool.directory: is empty") }
        if logs.mailLogs.isEmpty { problems.append("logs.mail_logs: is empty") }
        problems += scanningProblems()
        problems += cpqProblems()
        problems += clusterProblems()

        if !problems.isEmpty { throw ConfigurationError(problems: problems) }
    }

    /// `HAT line 4: x` → ` line 4: x`; `HAT: x` → `: x`.
    private static func dropTablePrefix(_ problem: String, _ prefix: String) -> String {
        problem.hasPrefix(prefix) ? String(problem.dropFirst(prefix.count)) : ": " + problem
    }

    /// Two bind addresses clash when equal or when either is the wildcard of the same family.
    private static func overlap(_ a: IPAddress, _ b: IPAddress) -> Bool {
        if a == b { return true }
        switch (a, b) {
        case (.v4(let x), .v4(let y)): return x == 0 || y == 0
        case (.v6(let xh, let xl), .v6(let yh, let yl)): return (xh == 0 && xl == 0) || (yh == 0 && yl == 0)
        default: return false
        }
    }
}
