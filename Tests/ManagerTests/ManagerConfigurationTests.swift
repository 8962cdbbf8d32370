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
