import AdminCLI
import ArgumentParser
import Foundation
import CPQTLS
import Gateway
import Logging
import Manager
import ServiceLifecycle

@main
struct Lazaret: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lazaret",
        abstract: "Lazaret: a centralized Policy, Virus and Outbreak email quarantine.",
        subcommands: [Up.self, GatewayCommand.self, ManagerCommand.self, QuarantineCommand.self, Reload.self, OutbreakCommand.self,
                      CLICommand.self, SSHCommand.self])
}

/// `lazaret up`: the whole system on loopback with embedded defaults.
struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start Lazaret on loopback with embedded defaults (state and config under --home).")

    @Option(help: "Directory for state, logs and the generated lazaret.yaml.")
    var home: String = "./.lazaret"

    func run() async throws {
        let home = absolutePath(home)
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        // The first admin's SSH key: both roles let `admin` in with it (docs/ADMIN-CLI.md).
        let adminKeyPath = (home as NSString).appendingPathComponent("admin_ssh_ed25519_key")
        let adminKey = try SSHHostKey.loadOrCreate(path: adminKeyPath)
        let adminUser = SSHUser(name: "admin", role: .admin, authorizedKeys: [adminKey.publicKeyLine])
        let configPath = (home as NSString).appendingPathComponent("lazaret.yaml")
        let configuration: GatewayConfiguration
        if FileManager.default.fileExists(atPath: configPath) {
            configuration = try GatewayConfiguration.load(path: configPath)
            print("lazaret: using \(configPath)")
        } else {
            var defaults = GatewayConfiguration.defaults(home: home)
            defaults.ssh.users = [adminUser]
            configuration = defaults
            try (GatewayConfiguration.starterHeader + configuration.yaml()).write(toFile: configPath, atomically: true, encoding: .utf8)
            print("lazaret: wrote the default configuration to \(configPath)")
            let rulesPath = configuration.resolvedPath(configuration.scanning.outbreak.rules)
            if !FileManager.default.fileExists(atPath: rulesPath) {
                try GatewayConfiguration.sampleOutbreakRules.write(toFile: rulesPath, atomically: true, encoding: .utf8)
                print("lazaret: wrote sample outbreak rules to \(rulesPath)")
            }
        }
        // The manager, in DIR/manager, paired with this gateway on the first run.
        let managerHome = (home as NSString).appendingPathComponent("manager")
        try FileManager.default.createDirectory(atPath: managerHome, withIntermediateDirectories: true)
        let managerPath = (managerHome as NSString).appendingPathComponent("manager.yaml")
        if !FileManager.default.fileExists(atPath: managerPath) {
            var defaults = ManagerConfiguration(home: managerHome)
            defaults.ssh.users = [adminUser]
            try defaults.yaml().write(toFile: managerPath, atomically: true, encoding: .utf8)
        }
        let manager = try ManagerConfiguration.load(path: managerPath)
        let cpqDirectory = configuration.resolvedPath(configuration.cpq.directory)
        if (try? CPQJoinBundle.read(from: cpqDirectory)) == nil {
            let authority = try Manager.authority(manager)
            let name = "gateway"
            let token = try authority.pairingTokens.create(gatewayName: name)
            try authority.pair(token: token, presentedName: name, from: ["127.0.0.1"]).write(to: cpqDirectory)
            print("lazaret: paired gateway \"\(name)\" with the manager (CPQ CA in \(manager.resolve(manager.cpqDirectory)))")
        }
        // Releases go to the gateway's cpq_listener (7125 here; the manager has 7025): the
        // manager asks the gateway over SSH (2222 here; its host key pinned now), as it would
        // ask a gateway that joined over the network. Without SSH, the listener is set here.
        if let bundle = try? CPQJoinBundle.read(from: cpqDirectory) {
            let authority = try Manager.authority(manager)
            let paired = authority.pairedGateways
            // The gateway lets the manager in with the key the bundle carries.
            if let key = authority.managerSSHKey, CPQJoinBundle.readManagerSSHKey(directory: cpqDirectory) != key {
                try CPQJoinBundle.writeManagerSSHKey(key, to: cpqDirectory)
            }
            if let record = try paired.record(named: bundle.gatewayName) {
                if configuration.ssh.enabled {
                    let hostKey = try SSHHostKey.loadOrCreate(path: configuration.ssh.hostKeyPath(home: home))
                    let listen = configuration.ssh.listen == "0.0.0.0" ? "127.0.0.1" : configuration.ssh.listen
                    let ssh = PairingRecord.SSHEndpoint(host: listen, port: configuration.ssh.port(roleDefault: SSHConfiguration.gatewayDefaultPort),
                                                        hostKey: hostKey.publicKeyLine)
                    if record.ssh != ssh { try paired.setSSH(ssh, forGateway: bundle.gatewayName) }
                    if record.cpqListener != nil { try paired.setListener(nil, forGateway: bundle.gatewayName) }
                } else {
                    let interface = configuration.cpq.listenerInterface.flatMap(configuration.interface(named:)) ?? configuration.interfaces[0]
                    let listener = PairingRecord.Listener(host: interface.address, port: configuration.cpq.listenerPort)
                    if record.cpqListener != listener { try paired.setListener(listener, forGateway: bundle.gatewayName) }
                }
            }
        }
        let token = try ensureAdminToken(manager: manager, home: home)
        print("lazaret: API admin token (also in \((home as NSString).appendingPathComponent("admin-token"))): \(token)")
        if configuration.ssh.enabled {
            print("lazaret: admin CLI over SSH: ssh -i \(adminKeyPath) -p \(configuration.ssh.port(roleDefault: SSHConfiguration.gatewayDefaultPort)) admin@127.0.0.1 status   (the gateway; the manager: -p \(manager.ssh.port(roleDefault: SSHConfiguration.managerDefaultPort)))")
        }
        print("lazaret: locally: swift run lazaret cli status   (--role manager for the manager)")
        try await runRoles(gateway: (configuration, home, configPath), manager: manager)
    }
}

/// `lazaret manager`: the manager role, and its pairing tokens.
struct ManagerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manager", abstract: "Run the manager role, or make a pairing token for a gateway.",
        subcommands: [Run.self, Pair.self, SetListener.self, SetSSH.self, Gateways.self, UserCommand.self, TokenCommand.self, Audit.self],
        defaultSubcommand: Run.self)

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the manager role from a configuration file.")

        @Option(help: "The manager's YAML configuration.")
        var config: String

        func run() async throws {
            try await runRoles(gateway: nil, manager: try ManagerConfiguration.load(path: absolutePath(config)))
        }
    }

    struct Pair: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a one-time token that lets the gateway NAME join this manager (valid for --hours).")

        @Option(help: "The manager's YAML configuration.")
        var config: String

        @Option(help: "The gateway's name (the name in its certificate).")
        var name: String

        @Option(help: "Hours the token stays valid.")
        var hours: Int = 24

        @Option(help: "Redeem the token at once and write the gateway's CPQ files (certificate, key, CA, manager pin) into this directory — the gateway's cpq.directory — instead of printing the token (for a gateway on the same host, or to copy by hand).")
        var writeGatewayFiles: String?

        func run() throws {
            let configuration = try ManagerConfiguration.load(path: absolutePath(config))
            let authority = try Manager.authority(configuration)
            let token = try authority.pairingTokens.create(gatewayName: name, ttl: TimeInterval(hours * 3600))
            guard let directory = writeGatewayFiles else {
                print(token)
                fflush(nil)
                FileHandle.standardError.write(Data("""
                    lazaret: on gateway \(name), within \(hours) h: lazaret gateway join --manager \(configuration.listenerAddress):\(configuration.listenerPort) --token \(token) --name \(name) --config FILE

                    """.utf8))
                return
            }
            let ssh = try ssh.map { try parseSSH($0, hostKey: sshHostKey) }
            if ssh == nil, sshHostKey != nil { throw ValidationError("--ssh-host-key goes with --ssh HOST:PORT") }
            try authority.pair(token: token, presentedName: name).write(to: absolutePath(directory))
            if let cpqListener {
                try authority.pairedGateways.setListener(try parseListener(cpqListener), forGateway: name)
            }
            if let ssh { try authority.pairedGateways.setSSH(ssh, forGateway: name) }
            print("lazaret: gateway \(name) paired; its CPQ files are in \(absolutePath(directory))")
        }

        @Option(help: "With --write-gateway-files: where the gateway's cpq_listener takes releases (HOST:PORT); without it (and with --ssh) the manager asks the gateway over SSH.")
        var cpqListener: String?

        @Option(help: "With --write-gateway-files: HOST:PORT of the gateway's admin SSH server (needs --ssh-host-key).")
        var ssh: String?

        @Option(help: "The gateway's SSH host key to pin: its OpenSSH public key line, `ssh-ed25519 AAAA...` (lazaret ssh fingerprint --home GATEWAY_HOME prints it).")
        var sshHostKey: String?
    }

    struct SetSSH: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-ssh",
            abstract: "Set where a paired gateway's admin SSH server is and pin its host key; releases then go where the gateway says (over SSH) its cpq_listener is, and a cpq_listener set by hand is forgotten.")

        @Option(help: "The manager's YAML configuration.")
        var config: String

        @Option(help: "The paired gateway's name.")
        var name: String

        @Argument(help: "HOST:PORT of the gateway's admin SSH server.")
        var ssh: String

        @Option(help: "The gateway's SSH host key: its OpenSSH public key line, `ssh-ed25519 AAAA...`.")
        var hostKey: String

        func run() throws {
            let authority = try Manager.authority(try ManagerConfiguration.load(path: absolutePath(config)))
            let endpoint = try parseSSH(ssh, hostKey: hostKey)
            try authority.pairedGateways.setSSH(endpoint, forGateway: name)
            try authority.pairedGateways.setListener(nil, forGateway: name)
            print("lazaret: gateway \(name): SSH \(endpoint.host) port \(endpoint.port), host key \(endpoint.hostKeyFingerprint) pinned; releases go where it says its cpq_listener is")
        }
    }

    struct SetListener: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-listener",
            abstract: "Set where a paired gateway's cpq_listener takes releases (the.cpq.release.host delivers there).")

        @Option(help: "The manager's YAML configuration.")
        var config: String

        @Option(help: "The paired gateway's name.")
        var name: String

        @Argument(help: "HOST:PORT of the gateway's cpq_listener.")
        var listener: String

        func run() throws {
            let authority = try Manager.authority(try ManagerConfiguration.load(path: absolutePath(config)))
            let parsed = try parseListener(listener)
            try authority.pairedGateways.setListener(parsed, forGateway: name)
            print("lazaret: releases for gateway \(name) go to \(parsed.host) port \(parsed.port) (a running manager uses it from its next rescan)")
        }
    }

    struct Gateways: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the paired gateways and their cpq_listeners.")

        @Option(help: "The manager's YAML configuration.")
        var config: String

        func run() throws {
            let authority = try Manager.authority(try ManagerConfiguration.load(path: absolutePath(config)))
            let records = try authority.pairedGateways.all()
            if records.isEmpty { print("No paired gateways: make a token with lazaret manager pair --name NAME") }
            for record in records {
                let listener = record.cpqListener.map { "\($0.host):\($0.port)" } ?? (record.ssh == nil ? "unknown" : "asked over SSH")
                let ssh = record.ssh.map { "\($0.host):\($0.port) host key \($0.hostKeyFingerprint)" } ?? "none"
                print("\(record.gatewayName)\tcpq_listener \(listener)\tssh \(ssh)\tcertificate sha256 \(record.certificateFingerprint?.hex ?? "not issued")\tpaired \(record.pairedAt)")
            }
        }
    }
}

/// `HOST:PORT` of a gateway's SSH server and its host key line, checked.
func parseSSH(_ text: String, hostKey: String?) throws -> PairingRecord.SSHEndpoint {
    let address = try parseListener(text, option: "--ssh")
    guard let hostKey else { throw ValidationError("--ssh-host-key is missing: the gateway's host key must be pinned (ssh-ed25519 AAAA...)") }
    guard let line = PairingRecord.SSHEndpoint.hostKeyLine(hostKey) else {
        throw ValidationError("--ssh-host-key: not an ssh-ed25519 public key line; copy the gateway's `ssh-ed25519 AAAA...` line whole")
    }
    return PairingRecord.SSHEndpoint(host: address.host, port: address.port, hostKey: line)
}

/// `HOST:PORT` (`[v6]:PORT` for an IPv6 address) of a cpq_listener.
func parseListener(_ text: String, option: String = "--cpq-listener") throws -> PairingRecord.Listener {
    var host = Substring(text)
    guard let colon = host.lastIndex(of: ":"), let port = Int(host[host.index(after: colon)...]), (1...65535).contains(port) else {
        throw ValidationError("\(option) \"\(text)\": write HOST:PORT, e.g. 10.10.20.1:7025")
    }
    host = host[..<colon]
    if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
    guard !host.isEmpty else { throw ValidationError("\(option) \"\(text)\": the host is missing") }
    return PairingRecord.Listener(host: String(host), port: port)
}

/// `lazaret gateway --config FILE`: the gateway role alone; `lazaret gateway join`: pairing.
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway", abstract: "Run the gateway role, or join it to a manager.",
        subcommands: [Run.self, Join.self], defaultSubcommand: Run.self)

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the gateway role from a configuration file.")

        @Option(help: "The gateway's YAML configuration.")
        var config: String

        @Option(help: "Directory that relative paths in the configuration are resolved against (default: the config file's directory).")
        var home: String?

        func run() async throws {
            let configPath = absolutePath(config)
            let configuration = try GatewayConfiguration.load(path: configPath)
            let home = home.map(absolutePath) ?? (configPath as NSString).deletingLastPathComponent
            try await runRoles(gateway: (configuration, home, configPath), manager: nil)
        }
    }

    struct Join: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Join a manager with a pairing token from `lazaret manager pair --name NAME`: fetch this gateway's CPQ certificate and the CPQ CA, pin the manager, and tell it where this gateway's cpq_listener takes releases.")

        @Option(help: "The manager's cpq_listener, HOST:PORT (e.g. 10.10.10.1:7025).")
        var manager: String

        @Option(help: "The one-time pairing token the manager printed.")
        var token: String

        @Option(help: "This gateway's name: the one the token was made for.")
        var name: String

        @Option(help: "The gateway's YAML configuration: the files go to its cpq.directory, its cpq_listener is announced, its cipher list and minimum TLS version are used.")
        var config: String?

        @Option(help: "Where to write the CPQ files instead of the configuration's cpq.directory.")
        var cpqDirectory: String?

        @Option(help: "HOST:PORT where this gateway's cpq_listener takes releases (default: from --config, else the address it joins from, port 7025).")
        var listener: String?

        func run() async throws {
            let configuration: GatewayConfiguration?
            var home = FileManager.default.currentDirectoryPath
            if let config {
                let path = absolutePath(config)
                configuration = try GatewayConfiguration.load(path: path)
                home = (path as NSString).deletingLastPathComponent
            } else {
                configuration = nil
            }
            guard let directory = cpqDirectory.map(absolutePath)
                ?? configuration.map({ ($0.cpq.directory.hasPrefix("/") ? $0.cpq.directory : (home as NSString).appendingPathComponent($0.cpq.directory)) })
            else {
                throw ValidationError("say where the CPQ files go: --config FILE (its cpq.directory) or --cpq-directory DIR")
            }
            let target = try parseListener(manager, option: "--manager")
            var announced = listener
            if announced == nil, let configuration {
                let interface = configuration.cpq.listenerInterface.flatMap(configuration.interface(named:)) ?? configuration.interfaces[0]
                announced = "\(interface.address):\(configuration.cpq.listenerPort)"
            }
            if let announced { _ = try parseListener(announced, option: "--listener") }
            let tls = try (configuration?.cpq ?? GatewayConfiguration.CPQSettings()).tlsConfiguration()
            // The admin SSH server's host key, made now if this is the first start, for the manager to pin.
            var ssh: GatewayJoin.SSHAnnouncement?
            if let configuration, configuration.ssh.enabled {
                let hostKey = try SSHHostKey.loadOrCreate(path: configuration.ssh.hostKeyPath(home: home))
                let listen = configuration.ssh.listen == "0.0.0.0" || configuration.ssh.listen == "::" ? "" : configuration.ssh.listen
                let host = listen.contains(":") ? "[\(listen)]" : listen
                ssh = GatewayJoin.SSHAnnouncement(address: "\(host):\(configuration.ssh.port(roleDefault: SSHConfiguration.gatewayDefaultPort))",
                                                  hostKeyBlob: String(hostKey.publicKeyLine.split(separator: " ")[1]))
            }
            do {
                let result = try await GatewayJoin.join(manager: target.host, port: target.port, token: token, gatewayName: name,
                                                        listener: announced, ssh: ssh, tls: tls, directory: directory,
                                                        localHostname: configuration?.hostname ?? name)
                print("lazaret: joined the manager at \(target.host) port \(target.port) as gateway \(result.bundle.gatewayName)")
                print("lazaret: manager certificate pinned: sha256 \(result.bundle.managerFingerprint.hex)")
                if let ssh { print("lazaret: told the manager this gateway's SSH server (\(ssh.address)) to ask where its cpq_listener is") }
                print("lazaret: CPQ files written to \(result.directory); start (or restart) the gateway to use them")
            } catch {
                FileHandle.standardError.write(Data("lazaret: gateway join failed: \(error)\n".utf8))
                throw ExitCode.failure
            }
        }
    }
}

func absolutePath(_ path: String) -> String {
    let url = URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
    return url.standardizedFileURL.path
}

/// Runs the gateway and/or the manager in one ServiceGroup until SIGINT/SIGTERM.
func runRoles(gateway: (configuration: GatewayConfiguration, home: String, configPath: String)?,
              manager: ManagerConfiguration?) async throws {
    var logger = Logger(label: "lazaret")
    logger.logLevel = .warning
    var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
    var pidFile: PIDFile?
    if let manager {
        services.append(.init(service: Manager(configuration: manager) { lines in
            for line in lines { print("lazaret: manager \(line)") }
            if gateway == nil { print("lazaret: ready (Ctrl-C or SIGTERM stops)") }
            fflush(nil)
        }))
    }
    if let gateway {
        pidFile = PIDFile(home: gateway.home)
        try pidFile?.write()
        services.append(.init(service: Gateway(configuration: gateway.configuration, home: gateway.home,
                                               configurationPath: gateway.configPath) { lines in
            for line in lines { print("lazaret: gateway \(line)") }
            print("lazaret: ready (Ctrl-C or SIGTERM stops)")
            fflush(nil)
        }))
    }
    defer { pidFile?.remove() }
    let group = ServiceGroup(configuration: .init(
        services: services,
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger))
    try await group.run()
    print("lazaret: stopped")
}
