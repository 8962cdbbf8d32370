import Testing
@testable import Manager

@Suite struct ManagerConfigurationControlSocketTests {
    @Test func controlSocketDefaultsUnderHomeAndCanBeSet() throws {
        let defaults = try ManagerConfiguration.parse(yaml: "hostname: m.test\n", home: "/srv/manager")
        #expect(defaults.resolve(defaults.controlSocket) == "/srv/manager/control.sock")
        let relative = try ManagerConfiguration.parse(yaml: "control_socket: run/ctl.sock\n", home: "/srv/manager")
        #expect(relative.resolve(relative.controlSocket) == "/srv/manager/run/ctl.sock")
        let absolute = try ManagerConfiguration.parse(yaml: "control_socket: /run/lazaret.sock\n", home: "/srv/manager")
        #expect(absolute.resolve(absolute.controlSocket) == "/run/lazaret.sock")
        // What `lazaret up` writes reads back the same.
        let written = ManagerConfiguration(home: "/srv/manager", controlSocket: "x.sock")
        #expect(try ManagerConfiguration.parse(yaml: written.yaml(), home: "/srv/manager") == written)
    }

    @Test func emptyControlSocketIsRefused() {
        #expect(throws: ManagerError.self) { try ManagerConfiguration.parse(yaml: "control_socket: \"\"\n", home: "/srv/manager") }
        do {
            _ = try ManagerConfiguration.parse(yaml: "control_socket: \"\"\n", home: "/srv/manager")
        } catch {
            #expect("\(error)".contains("control_socket: is empty"))
        }
    }
}

@Suite struct ManagerConfigurationReleaseQueueTests {
    @Test func releaseQueueKeysAreReadAndWrittenBack() throws {
        let defaults = try ManagerConfiguration.parse(yaml: "", home: "/m")
        #expect(defaults.releaseMaxConnections == 4)
        #expect(defaults.releaseRetryInitialSeconds == 60 && defaults.releaseRetryMaxSeconds == 3600)
        #expect(defaults.releaseMaxQueueLifetimeSeconds == 259_200 && defaults.releaseRescanSeconds == 30)
        let set = try ManagerConfiguration.parse(yaml: """
            release_queue: {max_connections: 2, retry_initial_s: 0.5, retry_max_s: 5, max_queue_lifetime_s: 600, rescan_s: 1}
            """, home: "/m")
        #expect(set.releaseMaxConnections == 2)
        #expect(set.releaseRetryInitialSeconds == 0.5 && set.releaseRetryMaxSeconds == 5)
        #expect(set.releaseMaxQueueLifetimeSeconds == 600 && set.releaseRescanSeconds == 1)
        #expect(try ManagerConfiguration.parse(yaml: set.yaml(), home: "/m") == set)
    }

    @Test func badReleaseQueueValuesAreNamed() {
        func problem(_ yaml: String) -> String {
            do {
                _ = try ManagerConfiguration.parse(yaml: yaml, home: "/m")
                return ""
            } catch {
                return "\(error)"
            }
        }
        #expect(problem("release_queue: {max_connections: 0}").contains("release_queue.max_connections: 0 must be at least 1"))
        #expect(problem("release_queue: {retry_initial_s: 10, retry_max_s: 5}").contains("release_queue.retry_max_s: 5.0 must be at least retry_initial_s (10.0)"))
        #expect(problem("release_queue: {rescan_s: 0}").contains("release_queue.rescan_s: 0.0 must be more than 0"))
        #expect(problem("release_queue: {retries: 3}").contains("release_queue.retries: unknown key"))
    }
}

@Suite struct ManagerSSHConfigurationTests {
    @Test func theSSHSectionsRoundTripAndNameTheirFields() throws {
        let set = try ManagerConfiguration.parse(yaml: """
            ssh:
              port: 2300
              users:
                - {name: ada, role: admin, authorized_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHvbA0WmqTeV5ts3WG+XomfD2c5OKBTYnGdWHhDxuhfS ada']}
            ssh_client: {key: keys/client, timeout_s: 5, cache_s: 30}
            """, home: "/m")
        #expect(set.ssh.port == 2300 && set.ssh.users.map(\.name) == ["ada"])
        #expect(set.sshClientKey == "keys/client" && set.sshClientTimeoutSeconds == 5 && set.sshClientCacheSeconds == 30)
        #expect(try ManagerConfiguration.parse(yaml: set.yaml(), home: "/m") == set)
        let defaults = try ManagerConfiguration.parse(yaml: "", home: "/m")
        #expect(defaults.ssh.port(roleDefault: 2223) == 2223 && defaults.sshClientKey == "ssh_client_ed25519_key")
        #expect(throws: ManagerError.self) { try ManagerConfiguration.parse(yaml: "ssh_client: {keys: x}\n", home: "/m") }
        do {
            _ = try ManagerConfiguration.parse(yaml: "ssh: {users: [{name: bob, role: boss, password_bcrypt: x}]}\n", home: "/m")
            Issue.record("a bad role was taken")
        } catch {
            #expect("\(error)".contains("ssh.users[0].role"), "\(error)")
        }
        do {
            _ = try ManagerConfiguration.parse(yaml: "ssh_client: {timeout_s: 0}\n", home: "/m")
            Issue.record("a zero timeout was taken")
        } catch {
            #expect("\(error)".contains("ssh_client.timeout_s: 0.0 must be more than 0"), "\(error)")
        }
    }
}
