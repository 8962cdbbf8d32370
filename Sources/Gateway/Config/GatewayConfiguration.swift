import Foundation
import Spool
import Yams

/// The gateway's configuration file (YAML). docs/CONFIGURATION.md documents
/// every key. Load it with `load(path:)`, which also validates it (and parses
/// every listener's HAT and RAT), so a bad file stops the start with messages
/// that name the field: `listeners[0].port: 70000 is not a port number (1-65535)`.
///
/// Keys that are missing take the values of `defaults(home:)`; keys that
/// are not known are errors, so that a misspelt key is not silently ignored.
public struct GatewayConfiguration: Hashable, Sendable {
    /// The directory relative paths are under (not stored in the file;
    /// `load(path:)` uses the file's directory).
    public var home: String
    /// Used in banners, Received headers and DSNs.
    public var hostname: String
    public var interfaces: [Interface]
    public var listeners: [Listener]
    public var destinations: [Destination]
    public var delivery: Delivery
    public var spool: SpoolSettings
    public var logs: Logs
    /// Message filters, mail policies, anti-virus and outbreak filters, quarantines
    /// (top-level keys `message_filters`, `mail_policies`, `antivirus`, `outbreak`,
    /// `quarantines`, `quarantine_destination`, `scan_workers`).
    public var scanning = ScanningSettings()
    /// The CPQ link to the manager (top-level key `cpq`).
    public var cpq = CPQSettings()
    /// The cluster this gateway belongs to (top-level key `cluster`), if any; `interfaces`
    /// and `hostname` are then this machine's.
    public var cluster: Cluster?
    /// The local control socket `lazaret cli` talks to (top-level key `control_socket`;
    /// relative to home; mode 0600).
    public var controlSocket = "control.sock"

    public init(
        home: String, hostname: String, interfaces: [Interface], listeners: [Listener],
        destinations: [Destination], delivery: Delivery, spool: SpoolSettings, logs: Logs
    ) {
        self.home = home
        self.hostname = hostname
        self.interfaces = interfaces
        self.listeners = listeners
        self.destinations = destinations
        self.delivery = delivery
        self.spool = spool
        self.logs = logs
    }

    /// A named local address listeners bind to.
    public struct Interface: Hashable, Sendable {
        public var name: String
        /// An IPv4 or IPv6 address of this host.
        public var address: String

        public init(name: String, address: String) {
            self.name = name
            self.address = address
        }
    }

    /// The protocol a listener speaks.
    public enum ListenerProtocol: String, Hashable, Sendable, CaseIterable {
        case smtp
    }

    /// Public listeners take mail from the Internet for local domains (RAT);
    /// private ones take mail from inside to relay out.
    public enum ListenerType: String, Hashable, Sendable, CaseIterable {
        case `public`, `private`
    }

    /// A certificate chain and private key, PEM files.
    public struct TLSFiles: Hashable, Sendable {
        public var certificate: String
        public var key: String

        public init(certificate: String, key: String) {
            self.certificate = certificate
            self.key = key
        }
    }

    /// One SMTP listener: where it listens and whom it takes mail from.
    public struct Listener: Hashable, Sendable {
        public var name: String
        public var `protocol`: ListenerProtocol
        /// The name of an entry of `interfaces`.
        public var interface: String
        public var port: Int
        public var type: ListenerType
        /// Connections open at once on this listener.
        public var maxConnections: Int
        /// Milliseconds to wait before the greeting (talkers-first are dropped).
        public var greetingDelayMilliseconds: Int
        /// Certificate and key for STARTTLS; relative paths are under `home`.
        public var tls: TLSFiles?
        /// The host access table, in its text form.
        public var hat: String
        /// The recipient access table, in its text form.
        public var rat: String

        public init(
            name: String, protocol: ListenerProtocol = .smtp, interface: String, port: Int,
            type: ListenerType = .private, maxConnections: Int = 200, greetingDelayMilliseconds: Int = 0,
            tls: TLSFiles? = nil, hat: String = GatewayConfiguration.defaultHAT, rat: String = GatewayConfiguration.defaultRAT
        ) {
            self.name = name
            self.protocol = `protocol`
            self.interface = interface
            self.port = port
            self.type = type
            self.maxConnections = maxConnections
            self.greetingDelayMilliseconds = greetingDelayMilliseconds
            self.tls = tls
            self.hat = hat
            self.rat = rat
        }

        /// The parsed HAT (cannot fail on a configuration `load` accepted).
        public func hostAccessTable() throws(ConfigurationError) -> HostAccessTable {
            try HostAccessTable(parsing: hat)
        }

        /// The parsed RAT (cannot fail on a configuration `load` accepted).
        public func recipientAccessTable() throws(ConfigurationError) -> RecipientAccessTable {
            try RecipientAccessTable(parsing: rat)
        }
    }

    /// How delivery to a destination uses TLS (the delivery queue's own type).
    public typealias DestinationTLS = DestinationTLSMode

    /// A next hop that delivery queues mail for (the queue name `tophosts` shows).
    public struct Destination: Hashable, Sendable {
        public var name: String
        public var host: String
        public var port: Int
        public var maxConnections: Int
        public var tls: DestinationTLS

        public init(name: String, host: String, port: Int = 25, maxConnections: Int = 10, tls: DestinationTLS = .off) {
            self.name = name
            self.host = host
            self.port = port
            self.maxConnections = maxConnections
            self.tls = tls
        }
    }

    /// Retry and expiry of queued mail.
    public struct Delivery: Hashable, Sendable {
        /// The destination for mail no rule routes elsewhere.
        public var defaultDestination: String?
        /// After this many seconds in the queue a message bounces as expired.
        public var maxQueueLifetimeSeconds: Int
        public var retryInitialSeconds: Int
        public var retryMaxSeconds: Int
        /// Consecutive failed connections before a destination is marked down.
        public var hostDownAfterFailures: Int

        public init(
            defaultDestination: String? = nil, maxQueueLifetimeSeconds: Int = 259_200, retryInitialSeconds: Int = 60,
            retryMaxSeconds: Int = 3600, hostDownAfterFailures: Int = 3
        ) {
            self.defaultDestination = defaultDestination
            self.maxQueueLifetimeSeconds = maxQueueLifetimeSeconds
            self.retryInitialSeconds = retryInitialSeconds
            self.retryMaxSeconds = retryMaxSeconds
            self.hostDownAfterFailures = hostDownAfterFailures
        }
    }

    /// Where accepted messages are kept.
    public struct SpoolSettings: Hashable, Sendable {
        /// Relative paths are under `home`.
        public var directory: String
        /// Flush every message to disk before answering 250.
        public var fsync: Bool

        public init(directory: String = "spool", fsync: Bool = true) {
            self.directory = directory
            self.fsync = fsync
        }
    }

    /// Where logs go.
    public struct Logs: Hashable, Sendable {
        /// The mail_logs file (relative paths are under `home`).
        public var mailLogs: String

        public init(mailLogs: String = "logs/mail_logs") {
            self.mailLogs = mailLogs
        }
    }

    /// The HAT of the default listener: relay for loopback, reject everyone else.
    public static let defaultHAT = """
        $RELAYED
          RELAY {}
        $BLOCKED
          REJECT {}
        RELAYLIST:
          127.0.0.0/8
            $RELAYED (loopback relays)
        ALL
          $BLOCKED (Everyone else)

        """

    /// The RAT of the default listener: any recipient.
    public static let defaultRAT = "ALL ACCEPT\n"

    /// The starter message filters of `lazaret up`: executables and scripts, by
    /// attachment name and by type, go to the Policy quarantine.
    public static let starterMessageFilters = #"""
        # Starter policy (docs/FILTERS.md): filters run in this order.
        block_executables: if (attachment-filename == '(?i)\.(exe|scr|com|pif|bat|cmd|vbs|vbe|js|jse|wsf|wsh|hta|msi|ps1|jar|lnk)$') {
            quarantine("Policy");
        }
        block_executable_types: if (attachment-type == '(?i)^application/(x-msdownload|x-msdos-program|x-dosexec|x-ms-installer|x-msi|java-archive|x-sh|x-bat)$') {
            quarantine("Policy");
        }

        """#

    /// The configuration `lazaret up` starts with: listener `IncomingMail` on
    /// 127.0.0.1:2525 relaying for 127.0.0.0/8 to any recipient, destination
    /// `smarthost` at 127.0.0.1:2526 (and the built-in `the.cpq.host` for
    /// quarantined mail, see `effectiveDestinations`), the starter message filters,
    /// anti-virus `auto` (clamd at Debian's socket if it answers) and the sample
    /// outbreak rules file.
    public static func defaults(home: String) -> GatewayConfiguration {
        var configuration = GatewayConfiguration(
            home: home,
            hostname: "gateway.lazaret.local",
            interfaces: [Interface(name: "Management", address: "127.0.0.1")],
            listeners: [Listener(name: "IncomingMail", interface: "Management", port: 2525,
                                 tls: TLSFiles(certificate: "tls/gateway.pem", key: "tls/gateway.key"))],
            destinations: [Destination(name: "smarthost", host: "127.0.0.1", port: 2526)],
            delivery: Delivery(defaultDestination: "smarthost"),
            spool: SpoolSettings(),
            logs: Logs()
        )
        configuration.scanning = ScanningSettings(messageFilters: starterMessageFilters,
                                                  antivirus: AntivirusSettings(enabled: .auto))
        // The manager's cpq_listener has 7025 on the same host.
        configuration.cpq.listenerPort = 7125
        return configuration
    }

    /// The built-in queue for quarantined mail when the file does not define it:
    /// the manager's cpq_listener on 127.0.0.1:7025, TLS required.
    public static let builtInCPQHost = Destination(name: "the.cpq.host", host: "127.0.0.1", port: 7025, maxConnections: 4,
                                                   tls: .required)

    /// `destinations` plus the built-in `the.cpq.host` unless the file defines one.
    public var effectiveDestinations: [Destination] {
        destinations.contains { $0.name == Self.builtInCPQHost.name } ? destinations : destinations + [Self.builtInCPQHost]
    }

    /// The interface called `name`, e.g. to find the address a listener binds to.
    public func interface(named name: String) -> Interface? {
        interfaces.first { $0.name == name }
    }

    /// `path` if absolute, else `home/path`.
    public func resolvedPath(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return home.hasSuffix("/") ? home + path : home + "/" + path
    }

    /// Reads, decodes and validates a YAML file; relative paths in it are
    /// under the file's directory.
    public static func load(path: String) throws(ConfigurationError) -> GatewayConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError("\(path): cannot read the configuration file (\(error.localizedDescription))")
        }
        let home = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return try parse(yaml: text, home: home)
    }

    /// Decodes and validates YAML text.
    public static func parse(yaml text: String, home: String) throws(ConfigurationError) -> GatewayConfiguration {
        do {
            // A file with nothing but comments is an empty mapping: all defaults.
            let source = try Yams.compose(yaml: text) == nil ? "{}" : text
            let configuration = try YAMLDecoder().decode(GatewayConfiguration.self, from: source, userInfo: [.gatewayHome: home])
            try configuration.validate()
            return configuration
        } catch let error as ConfigurationError {
            throw error
        } catch let error as DecodingError {
            // Yams wraps errors thrown by init(from:) (ours name their field already).
            if case .dataCorrupted(let context) = error, let inner = context.underlyingError as? ConfigurationError {
                throw inner
            }
            throw ConfigurationError(Self.describe(error))
        } catch {
            throw ConfigurationError("YAML: \(error)")
        }
    }

    /// The YAML text of this configuration; `parse(yaml:home:)` of it gives
    /// back an equal value.
    public func yaml() throws -> String {
        var options = YAMLEncoder.Options()
        options.newLineScalarStyle = .literal
        let encoder = YAMLEncoder()
        encoder.options = options
        return try encoder.encode(self)
    }

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .typeMismatch(let type, let context):
            return "\(ConfigurationPath.render(context.codingPath)): expected \(Self.typeName(type)) (\(context.debugDescription))"
        case .valueNotFound(let type, let context):
            return "\(ConfigurationPath.render(context.codingPath)): expected \(Self.typeName(type)), found nothing"
        case .keyNotFound(let key, let context):
            return "\(ConfigurationPath.render(context.codingPath + [key])): is required"
        case .dataCorrupted(let context):
            let path = ConfigurationPath.render(context.codingPath)
            let reason = context.underlyingError.map { "\($0)" } ?? context.debugDescription
            return path.isEmpty ? "YAML: \(reason)" : "\(path): \(reason)"
        @unknown default:
            return "\(error)"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: "a whole number"
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        default: "\(type)"
        }
    }
}

extension CodingUserInfoKey {
    /// The home directory a `GatewayConfiguration` is decoded for (a `String`;
    /// `.` when absent).
    public static let gatewayHome = CodingUserInfoKey(rawValue: "lazaret.gateway.home")!
}
