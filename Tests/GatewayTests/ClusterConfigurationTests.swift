import Testing
@testable import Gateway

/// A cluster shares one file; each machine overrides its interfaces and hostname; an
/// interface the listeners or the cpq_listener need must exist on every machine.
@Suite struct ClusterConfigurationTests {
    static func yaml(machine: String = "gw1", gw2Interfaces: String = "[{name: Data, address: 10.0.1.2}]") -> String {
        """
        hostname: mail.example.com
        interfaces:
          - {name: Data, address: 10.0.1.1}
          - {name: Management, address: 10.0.9.1}
        listeners:
          - {name: Inbound, interface: Data, port: 2525}
        cpq:
          listener_interface: Management
        cluster:
          name: east
          machine: \(machine)
          machines:
            - name: gw1
              interfaces: [{name: Management, address: 10.0.9.1}]
            - name: gw2
              hostname: gw2.example.com
              interfaces: \(gw2Interfaces)
        """
    }

    @Test func eachMachineGetsTheSharedConfigWithItsOwnInterfaces() throws {
        let gw2 = try GatewayConfiguration.parse(yaml: Self.yaml(machine: "gw2"), home: "/h")
        #expect(gw2.cluster?.name == "east")
        #expect(gw2.cluster?.machine == "gw2")
        #expect(gw2.hostname == "gw2.example.com")
        #expect(gw2.interface(named: "Data")?.address == "10.0.1.2")
        #expect(gw2.interface(named: "Management")?.address == "10.0.9.1")
        #expect(gw2.listeners.map(\.name) == ["Inbound"])
        let gw1 = try GatewayConfiguration.parse(yaml: Self.yaml(machine: "gw1"), home: "/h")
        #expect(gw1.hostname == "mail.example.com")
        #expect(gw1.interface(named: "Data")?.address == "10.0.1.1")
        // Written back, the file keeps the shared values, not this machine's.
        #expect(try GatewayConfiguration.parse(yaml: gw2.yaml(), home: "/h") == gw2)
        #expect(try gw2.yaml().contains("10.0.1.1"))
    }

    @Test func aMissingCPQInterfaceOnAMachineIsReportedByName() {
        // gw2 renames its cpq interface: the shared Management is still inherited, so first
        // take it away by making the shared file lack it on that machine via a new name.
        let yaml = """
        interfaces:
          - {name: Data, address: 10.0.1.1}
        listeners:
          - {name: Inbound, interface: Data, port: 2525}
        cpq:
          listener_interface: Backplane
        cluster:
          name: east
          machine: gw1
          machines:
            - name: gw1
              interfaces: [{name: Backplane, address: 10.0.9.1}]
            - name: gw2
              interfaces: [{name: backplane, address: 10.0.9.2}]
        """
        let problems = GatewayConfigurationTests.problems(yaml)
        #expect(problems == [
            "cluster east: machine gw2 has no interface \"Backplane\", which the cpq_listener uses (cpq.listener_interface); its interfaces: Data, backplane",
        ], "\(problems)")
    }

    @Test func unknownMachinesAndBadOverridesAreReported() {
        let unknown = GatewayConfigurationTests.problems(Self.yaml(machine: "gw9"))
        #expect(unknown.contains { $0.hasPrefix("cluster: this machine is \"gw9\", which is not one of cluster east's machines (gw1, gw2)") }, "\(unknown)")
        let bad = GatewayConfigurationTests.problems(Self.yaml(gw2Interfaces: "[{name: Data, address: not-an-ip}]"))
        #expect(bad.contains("cluster.machines[gw2].interfaces[0].address: \"not-an-ip\" is not an IP address"), "\(bad)")
        let unknownKey = GatewayConfigurationTests.problems(Self.yaml().replacingOccurrences(of: "  name: east", with: "  name: east\n  nodes: 2"))
        #expect(unknownKey.first?.contains("cluster.nodes: unknown key") == true, "\(unknownKey)")
    }
}

@Suite struct GatewaySSHConfigurationTests {
    @Test func theSSHSectionIsReadAndItsErrorsNameTheField() throws {
        let config = try GatewayConfiguration.parse(yaml: "ssh: {listen: 0.0.0.0, port: 2322}\n", home: "/h")
        #expect(config.ssh.listen == "0.0.0.0" && config.ssh.port == 2322 && config.ssh.enabled)
        #expect(try GatewayConfiguration.parse(yaml: config.yaml(), home: "/h") == config)
        #expect(GatewayConfiguration.defaults(home: "/h").ssh.port(roleDefault: 2222) == 2222)
        let bad = GatewayConfigurationTests.problems("ssh: {users: [{name: bob, role: boss, password_bcrypt: x}]}\n")
        #expect(bad.count == 1 && bad.first?.hasPrefix("ssh.users[0].role:") == true, "\(bad)")
        let unknown = GatewayConfigurationTests.problems("ssh: {prot: 22}\n")
        #expect(unknown.first?.contains("ssh.prot") == true, "\(unknown)")
    }
}
