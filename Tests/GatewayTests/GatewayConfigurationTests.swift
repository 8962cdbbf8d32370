import Foundation
import Testing

@testable import Gateway

@Suite struct GatewayConfigurationTests {
    static let sample = """
        hostname: gateway.lazaret.local          # used in banners, Received headers, DSNs
        interfaces:
          - name: Management
            address: 127.0.0.1
        listeners:
          - name: IncomingMail
            protocol: smtp
            interface: Management
            port: 2525
            type: private
            max_connections: 200
            greeting_delay_ms: 0
            tls: {certificate: tls/cert.pem, key: tls/key.pem}
            hat: |
              $RELAYED
                RELAY {}
              $BLOCKED
                REJECT {}
              RELAYLIST:
                127.0.0.0/8
                  $RELAYED (loopback relays)
              ALL
                $BLOCKED (Everyone else)
            rat: |
              ALL ACCEPT
        destinations:
          - name: smarthost
            host: 127.0.0.1
            port: 2526
            max_connections: 10
            tls: off
        delivery:
          default_destination: smarthost
          max_queue_lifetime_s: 259200
          retry_initial_s: 60
          retry_max_s: 3600
          host_down_after_failures: 3
        spool:
          directory: spool
          fsync: true
        logs:
          mail_logs: logs/mail_logs
        """

    @Test func defaultsAreValidAndRelayForLoopback() throws {
        let config = GatewayConfiguration.defaults(home: "/var/lazaret")
        try config.validate()
        #expect(config.listeners.map(\.name) == ["IncomingMail"])
        #expect(config.listeners[0].port == 2525)
        #expect(config.destinations[0].port == 2526)
        let hat = try config.listeners[0].hostAccessTable()
        #expect(hat.evaluate(address: "127.0.0.1", reverseDNS: nil, verified: false).behaviour == .relay)
        #expect(hat.evaluate(address: "192.0.2.1", reverseDNS: nil, verified: false).behaviour == .reject)
        #expect(try config.listeners[0].recipientAccessTable().evaluate(recipient: "anyone@anywhere.example").action == .accept)
        #expect(config.resolvedPath(config.spool.directory) == "/var/lazaret/spool")
        #expect(config.resolvedPath("/abs/x") == "/abs/x")
        #expect(config.interface(named: config.listeners[0].interface)?.address == "127.0.0.1")
        #expect(config.interface(named: "nope") == nil)
    }

    @Test func defaultsYAMLRoundTripThroughAFile() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("lazaret-config-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        let config = GatewayConfiguration.defaults(home: home)
        let text = try config.yaml()
        #expect(text.contains("max_queue_lifetime_s: 259200"))
        #expect(text.contains("default_destination: smarthost"))
        let path = home + "/lazaret.yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let loaded = try GatewayConfiguration.load(path: path)
        #expect(loaded == config)
    }

    @Test func sampleLoadsAndEqualsDefaultsPlusTLS() throws {
        let config = try GatewayConfiguration.parse(yaml: Self.sample, home: "/h")
        var expected = GatewayConfiguration.defaults(home: "/h")
        expected.listeners[0].tls = .init(certificate: "tls/cert.pem", key: "tls/key.pem")
        #expect(config.listeners[0].tls == expected.listeners[0].tls)
        #expect(try config.listeners[0].hostAccessTable() == expected.listeners[0].hostAccessTable())
        #expect(try config.listeners[0].recipientAccessTable() == expected.listeners[0].recipientAccessTable())
        #expect(config.destinations == expected.destinations)
        #expect(config.delivery == expected.delivery)
        #expect(config.spool == expected.spool)
        #expect(config.logs == expected.logs)
        // The encoded form round-trips too.
        #expect(try GatewayConfiguration.parse(yaml: config.yaml(), home: "/h") == config)
    }

    @Test func missingKeysTakeDefaults() throws {
        let config = try GatewayConfiguration.parse(yaml: """
            hostname: mx.example.org
            listeners:
              - name: In
                interface: Management
                port: 25
                type: public
            destinations:
              - name: next
                host: 192.0.2.10
            delivery:
              default_destination: next
            """, home: "/h")
        #expect(config.hostname == "mx.example.org")
        #expect(config.interfaces == GatewayConfiguration.defaults(home: "/h").interfaces)
        #expect(config.listeners[0].maxConnections == 200)
        #expect(config.listeners[0].type == .public)
        #expect(config.listeners[0].protocol == .smtp)
        #expect(config.listeners[0].hat == GatewayConfiguration.defaultHAT)
        #expect(config.destinations[0].port == 25)
        #expect(config.destinations[0].tls == .off)
        #expect(config.delivery.retryMaxSeconds == 3600)
        #expect(config.spool.fsync)
        // An empty file is the defaults, except scanning: a file that does not mention
        // anti-virus means `on` (never mail through unscanned) and no filters; only
        // `lazaret up` writes `auto` and the starter policy, explicitly.
        // Likewise the gateway's cpq_listener is on 7025 unless the file says otherwise;
        // `lazaret up` writes 7125 (its manager has 7025 on the same host).
        var expected = GatewayConfiguration.defaults(home: "/h")
        expected.scanning = .init()
        expected.cpq = .init()
        #expect(expected.cpq.listenerPort == 7025 && GatewayConfiguration.defaults(home: "/h").cpq.listenerPort == 7125)
        #expect(try GatewayConfiguration.parse(yaml: "", home: "/h") == expected)
        #expect(try GatewayConfiguration.parse(yaml: "# nothing yet\n", home: "/h") == expected)
        #expect(expected.scanning.antivirus.enabled == .on)
        #expect(GatewayConfiguration.defaults(home: "/h").scanning.antivirus.enabled == .auto)
    }

    @Test func cpqListenerKeysAreReadAndChecked() throws {
        let config = try GatewayConfiguration.parse(yaml: """
            cpq: {directory: join, listener_interface: Management, listener_port: 7125, listener_max_connections: 5, report_retry_s: 3}
            """, home: "/h")
        #expect(config.cpq.directory == "join")
        #expect(config.cpq.listenerInterface == "Management")
        #expect(config.cpq.listenerPort == 7125)
        #expect(config.cpq.listenerMaxConnections == 5)
        #expect(config.cpq.reportRetrySeconds == 3)
        #expect(try GatewayConfiguration.parse(yaml: config.yaml(), home: "/h") == config)
        let problems = Self.problems("""
            cpq: {listener_interface: Data, listener_port: 70000, listener_max_connections: 0, report_retry_s: 0}
            """)
        #expect(problems.contains(#"cpq.listener_interface: "Data" is not one of the interfaces (Management)"#), "\(problems)")
        #expect(problems.contains("cpq.listener_port: 70000 is not a port number (1-65535)"), "\(problems)")
        #expect(problems.contains("cpq.listener_max_connections: 0 must be at least 1"), "\(problems)")
        #expect(problems.contains("cpq.report_retry_s: 0 must be at least 1"), "\(problems)")
    }

    @Test func controlSocketIsReadAndChecked() throws {
        #expect(GatewayConfiguration.defaults(home: "/h").controlSocket == "control.sock")
        let config = try GatewayConfiguration.parse(yaml: "control_socket: run/admin.sock\n", home: "/h")
        #expect(config.resolvedPath(config.controlSocket) == "/h/run/admin.sock")
        #expect(try GatewayConfiguration.parse(yaml: config.yaml(), home: "/h") == config)
        #expect(Self.problems("control_socket: \"\"\n").contains { $0.hasPrefix("control_socket: is empty") })
    }

    @Test func scanningKeysAreCheckedAndNamed() {
        let problems = Self.problems("""
            quarantines: [Legal, "bad/name"]
            message_filters: |
              a: if (subject == 'x') { quarantine("Nowhere"); }
            mail_policies:
              - name: P
                senders: ['(']
                content_filters: |
                  b: if (subject == 'x') { quarantine("Legal"); }
            antivirus:
              clamd: nowhere
              infected: explode
              unavailable: deliver
              encrypted: quarantine:Ghost
            outbreak:
              threshold: 9
            """)
        #expect(problems.contains(#"quarantines[1]: "bad/name" is not a valid quarantine name (letters, digits, '-', '_', space; 64 at most)"#), "\(problems)")
        #expect(problems.contains { $0.hasPrefix(#"message_filters: filter "a", line 1"#) && $0.contains("Nowhere") }, "\(problems)")
        #expect(problems.contains { $0.hasPrefix("mail_policies[P].senders[0]: '(' is not a valid regular expression") }, "\(problems)")
        #expect(problems.contains(#"antivirus.clamd: "nowhere" is neither a socket path nor host:port"#), "\(problems)")
        #expect(problems.contains(#"antivirus.infected: "explode" is not an action (quarantine, quarantine:NAME, drop, deliver)"#), "\(problems)")
        #expect(problems.contains("antivirus.unavailable: deliver would let mail through unscanned; use wait or quarantine:NAME"), "\(problems)")
        #expect(problems.contains { $0.hasPrefix(#"antivirus.encrypted: quarantine "Ghost" is not defined"#) }, "\(problems)")
        #expect(problems.contains("outbreak.threshold: 9 must be 1 to 5"), "\(problems)")
        #expect(problems.count == 8, "\(problems)")
    }

    static func problems(_ yaml: String) -> [String] {
        do {
            _ = try GatewayConfiguration.parse(yaml: yaml, home: "/h")
            return []
        } catch {
            return error.problems
        }
    }

    static func sample(replacing old: String, with new: String) -> String {
        precondition(sample.contains(old), "fixture does not contain \(old)")
        return sample.replacingOccurrences(of: old, with: new)
    }

    @Test(arguments: [
        ("interface: Management\n    port", "interface: Mgmt\n    port",
         #"listeners[0].interface: "Mgmt" is not a defined interface (defined: Management)"#),
        ("port: 2525", "port: 70000", "listeners[0].port: 70000 is not a port number (1-65535)"),
        ("port: 2526", "port: 0", "destinations[0].port: 0 is not a port number (1-65535)"),
        ("max_connections: 200", "max_connections: 0", "listeners[0].max_connections: 0 must be at least 1"),
        ("default_destination: smarthost", "default_destination: nowhere",
         #"delivery.default_destination: "nowhere" is not a defined destination (defined: smarthost)"#),
        ("retry_max_s: 3600", "retry_max_s: 10", "delivery.retry_max_s: 10 is less than retry_initial_s (60)"),
        ("address: 127.0.0.1", "address: 127.0.0.256", #"interfaces[0].address: "127.0.0.256" is not an IP address"#),
        ("    127.0.0.0/8\n", "    127.0.0.0/88\n",
         #"listeners[IncomingMail].hat line 6: "127.0.0.0/88" is not an IP address, CIDR or hostname"#),
        ("      $RELAYED (loopback", "      $RELAYD (loopback",
         #"listeners[IncomingMail].hat line 7: unknown policy "$RELAYD" (defined: $RELAYED, $BLOCKED)"#),
        ("  ALL ACCEPT", "  ALL ACCEPTT", #"listeners[IncomingMail].rat line 1: "ACCEPTT" is not ACCEPT or REJECT"#),
        ("protocol: smtp", "protocol: cpq", #"listeners[0].protocol: "cpq" is not one of smtp"#),
        ("type: private", "type: secret", #"listeners[0].type: "secret" is not one of public | private"#),
        ("    tls: off", "    tls: maybe", #"destinations[0].tls: "maybe" is not one of off | opportunistic | required"#),
        ("hostname: gateway", "hostnme: gateway", "hostnme: unknown key"),
        ("    greeting_delay_ms: 0", "    greeting_delay: 0", "listeners[0].greeting_delay: unknown key"),
        ("  fsync: true", "  fsync: true\n  sync: false", "spool.sync: unknown key"),
        ("    port: 2525", "    port: many", "listeners[0].port: expected a whole number"),
        ("    host: 127.0.0.1\n", "\n", "destinations[0].host: is required"),
    ])
    func validationErrorsNameTheField(old: String, new: String, message: String) {
        let problems = Self.problems(Self.sample(replacing: old, with: new))
        #expect(problems.contains { $0.hasPrefix(message) }, "\(problems)")
    }

    @Test func duplicates() {
        let yaml = """
            interfaces:
              - {name: Management, address: 127.0.0.1}
              - {name: Any, address: 0.0.0.0}
            listeners:
              - {name: In, interface: Management, port: 2525}
              - {name: In, interface: Management, port: 2525}
              - {name: Other, interface: Any, port: 2525}
              - {name: Fine, interface: Any, port: 2527}
            destinations:
              - {name: smarthost, host: 127.0.0.1}
              - {name: smarthost, host: 127.0.0.2}
            """
        let problems = Self.problems(yaml)
        #expect(problems.contains(#"listeners[1].name: "In" is already the name of another listener"#), "\(problems)")
        #expect(problems.contains("listeners[1]: Management port 2525 is already used by listener In"), "\(problems)")
        #expect(problems.contains("listeners[2]: Any port 2525 is already used by listener In"), "\(problems)")
        #expect(problems.contains(#"destinations[1].name: "smarthost" is already the name of another destination"#), "\(problems)")
        #expect(problems.count == 4, "\(problems)")
    }

    @Test func loadNamesAnUnreadableFile() {
        #expect {
            _ = try GatewayConfiguration.load(path: "/nonexistent/lazaret.yaml")
        } throws: { error in
            (error as? ConfigurationError)?.problems.first?.hasPrefix("/nonexistent/lazaret.yaml: cannot read") == true
        }
    }
}
