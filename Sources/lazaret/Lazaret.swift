import ArgumentParser
import Foundation
import Gateway
import Logging
import ServiceLifecycle

@main
struct Lazaret: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lazaret",
        abstract: "Lazaret: a centralized Policy, Virus and Outbreak email quarantine.",
        subcommands: [Up.self, GatewayCommand.self, Reload.self, OutbreakCommand.self])
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
        let configPath = (home as NSString).appendingPathComponent("lazaret.yaml")
        let configuration: GatewayConfiguration
        if FileManager.default.fileExists(atPath: configPath) {
            configuration = try GatewayConfiguration.load(path: configPath)
            print("lazaret: using \(configPath)")
        } else {
            configuration = GatewayConfiguration.defaults(home: home)
            try (GatewayConfiguration.starterHeader + configuration.yaml()).write(toFile: configPath, atomically: true, encoding: .utf8)
            print("lazaret: wrote the default configuration to \(configPath)")
            let rulesPath = configuration.resolvedPath(configuration.scanning.outbreak.rules)
            if !FileManager.default.fileExists(atPath: rulesPath) {
                try GatewayConfiguration.sampleOutbreakRules.write(toFile: rulesPath, atomically: true, encoding: .utf8)
                print("lazaret: wrote sample outbreak rules to \(rulesPath)")
            }
        }
        try await runGateway(configuration, home: home, configPath: configPath)
    }
}

/// `lazaret gateway --config FILE`: the gateway role alone.
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gateway", abstract: "Run the gateway role from a configuration file.")

    @Option(help: "The gateway's YAML configuration.")
    var config: String

    @Option(help: "Directory that relative paths in the configuration are resolved against (default: the config file's directory).")
    var home: String?

    func run() async throws {
        let configPath = absolutePath(config)
        let configuration = try GatewayConfiguration.load(path: configPath)
        let home = home.map(absolutePath) ?? (configPath as NSString).deletingLastPathComponent
        try await runGateway(configuration, home: home, configPath: configPath)
    }
}

func absolutePath(_ path: String) -> String {
    let url = URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
    return url.standardizedFileURL.path
}

func runGateway(_ configuration: GatewayConfiguration, home: String, configPath: String) async throws {
    var logger = Logger(label: "lazaret")
    logger.logLevel = .warning
    let pidFile = PIDFile(home: home)
    try pidFile.write()
    defer { pidFile.remove() }
    let gateway = Gateway(configuration: configuration, home: home, configurationPath: configPath) { lines in
        for line in lines { print("lazaret: gateway \(line)") }
        print("lazaret: ready (Ctrl-C or SIGTERM stops)")
        fflush(nil)
    }
    let group = ServiceGroup(configuration: .init(
        services: [.init(service: gateway)],
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger))
    try await group.run()
    print("lazaret: stopped")
}
