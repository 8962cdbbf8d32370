import Foundation
import Gateway

/// A real `lazaret gateway` process with its own home directory, an SMTP
/// listener on an ephemeral port, and the smarthost pointed at `smarthostPort`.
final class GatewayInstance {
    let home: String
    let port: Int
    let smarthostPort: Int
    /// The admin CLI over SSH, on a free port (`sshUsers`: a YAML flow list of `ssh.users`).
    let sshPort: Int
    private(set) var process: Background?
    private var restarts = 0

    /// The HAT `lazaret up` uses: relay for loopback, reject everyone else.
    static let relayLoopbackHAT = GatewayConfiguration.defaultHAT

    /// `cpqPort`: where `the.cpq.host` (quarantined mail) delivers; nothing listens
    /// there unless the test starts something. `scanning`: YAML for message_filters,
    /// antivirus, outbreak... (anti-virus off unless it says otherwise).
    init(smarthostPort: Int, hat: String = GatewayInstance.relayLoopbackHAT, rat: String = "ALL ACCEPT",
         delivery: String = "", tls: Bool = true, smarthostTLS: String = "off", cpqPort: Int = Harness.freePort(), cpqTLS: String = "off",
         scanning: String = "antivirus: {enabled: off}", sshUsers: String = "[]", sshEnabled: Bool = true) throws {
        home = try Harness.makeTempDirectory("gw")
        port = Harness.freePort()
        sshPort = Harness.freePort()
        self.smarthostPort = smarthostPort
        let indentedHAT = hat.split(separator: "\n", omittingEmptySubsequences: false).map { "      " + $0 }.joined(separator: "\n")
        let indentedRAT = rat.split(separator: "\n", omittingEmptySubsequences: false).map { "      " + $0 }.joined(separator: "\n")
        let yaml = """
            hostname: gw.test.lazaret
            interfaces:
              - name: Management
                address: 127.0.0.1
            listeners:
              - name: IncomingMail
                protocol: smtp
                interface: Management
                port: \(port)
                type: private
                max_connections: 200
            \(tls ? "    tls: {certificate: tls/cert.pem, key: tls/key.pem}" : "")
                hat: |
            \(indentedHAT)
                rat: |
            \(indentedRAT)
            destinations:
              - name: smarthost
                host: 127.0.0.1
                port: \(smarthostPort)
                max_connections: 10
                tls: \(smarthostTLS)
              - name: the.cpq.host
                host: 127.0.0.1
                port: \(cpqPort)
                max_connections: 4
                tls: \(cpqTLS)
            delivery:
              default_destination: smarthost
              retry_initial_s: 1
              retry_max_s: 2
              host_down_after_failures: 3
            \(delivery)
            spool:
              directory: spool
              fsync: true
            logs:
              mail_logs: logs/mail_logs
            \(scanning)
            \(scanning.contains("cpq:") ? "" : "cpq: {listener_port: \(Harness.freePort())}")
            ssh: {enabled: \(sshEnabled), port: \(sshPort), users: \(sshUsers)}
            """
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    var configPath: String { home + "/lazaret.yaml" }
    var mailLogs: String { (try? String(contentsOfFile: home + "/logs/mail_logs", encoding: .utf8)) ?? "" }

    /// Starts the gateway and waits until its listener answers.
    func start() throws {
        restarts += 1
        let background = try Background(try Harness.lazaretBinary, ["gateway", "--config", configPath],
                                        logPath: home + "/stdout-\(restarts).log")
        process = background
        try Harness.waitUntil("the gateway listener on port \(port) (output: \(background.output))", seconds: 90) {
            if !background.process.isRunning {
                throw Harness.Failure("lazaret gateway exited: \(background.output)")
            }
            return Harness.isListening(port)
        }
    }

    func kill9() { process?.kill9() }
    func stop() { process?.stop() }

    deinit {
        process?.stop()
        try? FileManager.default.removeItem(atPath: home)
    }
}
