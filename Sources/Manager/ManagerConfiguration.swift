import AdminCLI
import CPQTLS
import Foundation
import Yams

/// The manager's configuration file (YAML). Relative paths are under `home` (the
/// file's directory). Unknown keys are errors; missing keys take the defaults below.
///
/// ```yaml
/// hostname: manager.lazaret.local
/// cpq_listener: {address: 127.0.0.1, port: 7025, max_connections: 200}
/// cpq: {directory: cpq, ciphers: "HIGH:MEDIUM:-aNULL", min_tls: TLSv1.2}
/// store: {directory: quarantine, quota_mb: 20480, sweep_s: 60}
/// logs: {mail_logs: logs/mail_logs}
/// control_socket: control.sock
/// web: {address: 127.0.0.1, port: 8025, users: users.json}
/// release_queue: {max_connections: 4, retry_initial_s: 60, retry_max_s: 3600, max_queue_lifetime_s: 259200, rescan_s: 30}
/// ssh: {listen: 127.0.0.1, port: 2223, users: [...]}      # the admin CLI over SSH (docs/ADMIN-CLI.md)
/// ssh_client: {key: ssh_client_ed25519_key, timeout_s: 10, cache_s: 60}   # asking gateways over SSH
/// ```
public struct ManagerConfiguration: Hashable, Sendable, Codable {
    public var home: String
    /// In the cpq_listener banner and the manager certificate.
    public var hostname: String
    public var listenerAddress: String
    public var listenerPort: Int
    public var maxConnections: Int
    /// The CPQ CA, the manager's certificate, pairing tokens and paired gateways.
    public var cpqDirectory: String
    public var ciphers: String
    public var minimumTLS: String
    /// The quarantine store (SQLite).
    public var storeDirectory: String
    /// The disk quota of all quarantines together (message bodies), in MiB: alerts at 75, 85
    /// and 95%; over it, quarantines that allow it give up their oldest mail, else transfers
    /// are refused with 452 and wait on the gateways.
    public var storeQuotaMB: Int = 20_480
    /// How often the retention sweeper runs (default actions at expiry, body removal, quota alerts).
    public var sweepSeconds: Double = 60
    public var mailLogs: String
    /// The control socket `lazaret quarantine ...` talks to (unix domain, mode 0600).
    public var controlSocket: String
    /// The web/API listener (`/api/v1`); port 0 picks a free one (tests).
    public var webAddress: String = "127.0.0.1"
    public var webPort: Int = 8025
    /// The API's users and token hashes, relative to home.
    public var usersFile: String = "users.json"
    /// `the.cpq.release.host`: connections per gateway cpq_listener.
    public var releaseMaxConnections: Int = 4
    /// Backoff of a release the gateway deferred or could not be reached for.
    public var releaseRetryInitialSeconds: Double = 60
    public var releaseRetryMaxSeconds: Double = 3600
    /// A release not accepted by then is recorded as failed.
    public var releaseMaxQueueLifetimeSeconds: Double = 3 * 86400
    /// How often the store's pending releases are looked at again (a release whose gateway
    /// was unknown, one that could not be queued).
    public var releaseRescanSeconds: Double = 30
    /// The admin CLI over SSH (port 2223 unless set).
    public var ssh = SSHConfiguration()
    /// The manager's own SSH key, with which it asks paired gateways where their
    /// cpq_listener is (made on first use; join bundles carry its public half).
    public var sshClientKey: String = "ssh_client_ed25519_key"
    /// How long one SSH question to a gateway may take.
    public var sshClientTimeoutSeconds: Double = 10
    /// How long a gateway's answer is used before it is asked again.
    public var sshClientCacheSeconds: Double = 60

    public init(home: String, hostname: String = "manager.lazaret.local", listenerAddress: String = "127.0.0.1",
                listenerPort: Int = 7025, maxConnections: Int = 200, cpqDirectory: String = "cpq",
                ciphers: String = CPQTLSConfiguration.defaultCipherList, minimumTLS: String = "TLSv1.2",
                storeDirectory: String = "quarantine", mailLogs: String = "logs/mail_logs",
                controlSocket: String = "control.sock") {
        self.home = home
        self.hostname = hostname
        self.listenerAddress = listenerAddress
        self.listenerPort = listenerPort
        self.maxConnections = maxConnections
        self.cpqDirectory = cpqDirectory
        self.ciphers = ciphers
        self.minimumTLS = minimumTLS
        self.storeDirectory = storeDirectory
        self.mailLogs = mailLogs
        self.controlSocket = controlSocket
    }

    /// ``storeQuotaMB`` in bytes.
    public var storeQuotaBytes: Int64 { Int64(storeQuotaMB) << 20 }

    /// `path` if absolute, else under `home`.
    public func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : (home as NSString).appendingPathComponent(path)
    }

    public func tlsConfiguration() throws -> CPQTLSConfiguration {
        CPQTLSConfiguration(cipherList: ciphers, minimumVersion: try CPQTLSVersion(parsing: minimumTLS, field: "cpq.min_tls"))
    }

    // MARK: YAML

    private struct File: Codable {
        struct Listener: Codable {
            var address: String?
            var port: Int?
            var max_connections: Int?
        }
        struct CPQ: Codable {
            var directory: String?
            var ciphers: String?
            var min_tls: String?
        }
        struct Store: Codable {
            var directory: String?
            var quota_mb: Int?
            var sweep_s: Double?
        }
        struct Logs: Codable { var mail_logs: String? }
        struct ReleaseQueue: Codable {
            var max_connections: Int?
            var retry_initial_s: Double?
            var retry_max_s: Double?
            var max_queue_lifetime_s: Double?
            var rescan_s: Double?
        }
        var release_queue: ReleaseQueue?
        var hostname: String?
        var cpq_listener: Listener?
        var cpq: CPQ?
        var store: Store?
        var logs: Logs?
        var control_socket: String?
        struct Web: Codable {
            var address: String?
            var port: Int?
            var users: String?
        }
        var web: Web?
        var ssh: SSHConfiguration?
        struct SSHClient: Codable {
            var key: String?
            var timeout_s: Double?
            var cache_s: Double?
        }
        var ssh_client: SSHClient?
    }

    private static let knownKeys: [String: Set<String>] = [
        "": ["hostname", "cpq_listener", "cpq", "store", "logs", "release_queue", "control_socket", "web", "ssh", "ssh_client"],
        "ssh_client": ["key", "timeout_s", "cache_s"],
        "web": ["address", "port", "users"],
        "release_queue": ["max_connections", "retry_initial_s", "retry_max_s", "max_queue_lifetime_s", "rescan_s"],
        "cpq_listener": ["address", "port", "max_connections"],
        "cpq": ["directory", "ciphers", "min_tls"],
        "store": ["directory", "quota_mb", "sweep_s"],
        "logs": ["mail_logs"],
    ]

    /// Reads and checks a file; errors name the field.
    public static func load(path: String) throws -> ManagerConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ManagerError("\(path): cannot read the manager configuration (\(error.localizedDescription))")
        }
        return try parse(yaml: text, home: (path as NSString).deletingLastPathComponent)
    }

    public static func parse(yaml text: String, home: String) throws -> ManagerConfiguration {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw ManagerError("YAML: \(error)")
        }
        if let mapping = node?.mapping {
            for (key, value) in mapping {
                let name = key.string ?? ""
                guard knownKeys[""]!.contains(name) else {
                    throw ManagerError("\(name): unknown key (known here: \(knownKeys[""]!.sorted().joined(separator: ", ")))")
                }
                if let section = knownKeys[name], let inner = value.mapping {
                    for innerKey in inner.keys.compactMap(\.string) where !section.contains(innerKey) {
                        throw ManagerError("\(name).\(innerKey): unknown key (known here: \(section.sorted().joined(separator: ", ")))")
                    }
                }
            }
        }
        let file: File
        do {
            file = node == nil ? File() : try YAMLDecoder().decode(File.self, from: text)
        } catch let error as SSHError {
            throw ManagerError(error.message)
        } catch DecodingError.dataCorrupted(let context) where context.underlyingError is SSHError {
            throw ManagerError((context.underlyingError as? SSHError)?.message ?? "\(context)")
        } catch {
            throw ManagerError("YAML: \(error)")
        }
        let d = ManagerConfiguration(home: home)
        var configuration = ManagerConfiguration(
            home: home, hostname: file.hostname ?? d.hostname, listenerAddress: file.cpq_listener?.address ?? d.listenerAddress,
            listenerPort: file.cpq_listener?.port ?? d.listenerPort, maxConnections: file.cpq_listener?.max_connections ?? d.maxConnections,
            cpqDirectory: file.cpq?.directory ?? d.cpqDirectory, ciphers: file.cpq?.ciphers ?? d.ciphers,
            minimumTLS: file.cpq?.min_tls ?? d.minimumTLS, storeDirectory: file.store?.directory ?? d.storeDirectory,
            mailLogs: file.logs?.mail_logs ?? d.mailLogs, controlSocket: file.control_socket ?? d.controlSocket)
        configuration.storeQuotaMB = file.store?.quota_mb ?? d.storeQuotaMB
        configuration.sweepSeconds = file.store?.sweep_s ?? d.sweepSeconds
        if let web = file.web {
            configuration.webAddress = web.address ?? d.webAddress
            configuration.webPort = web.port ?? d.webPort
            configuration.usersFile = web.users ?? d.usersFile
        }
        if let release = file.release_queue {
            configuration.releaseMaxConnections = release.max_connections ?? d.releaseMaxConnections
            configuration.releaseRetryInitialSeconds = release.retry_initial_s ?? d.releaseRetryInitialSeconds
            configuration.releaseRetryMaxSeconds = release.retry_max_s ?? d.releaseRetryMaxSeconds
            configuration.releaseMaxQueueLifetimeSeconds = release.max_queue_lifetime_s ?? d.releaseMaxQueueLifetimeSeconds
            configuration.releaseRescanSeconds = release.rescan_s ?? d.releaseRescanSeconds
        }
        if let ssh = file.ssh { configuration.ssh = ssh }
        if let client = file.ssh_client {
            configuration.sshClientKey = client.key ?? d.sshClientKey
            configuration.sshClientTimeoutSeconds = client.timeout_s ?? d.sshClientTimeoutSeconds
            configuration.sshClientCacheSeconds = client.cache_s ?? d.sshClientCacheSeconds
        }
        try configuration.validate()
        return configuration
    }

    public func validate() throws {
        var problems: [String] = []
        if hostname.isEmpty { problems.append("hostname: is empty") }
        if !(0...65535).contains(listenerPort) { problems.append("cpq_listener.port: \(listenerPort) is not a port number (1-65535)") }
        if maxConnections < 1 { problems.append("cpq_listener.max_connections: \(maxConnections) must be at least 1") }
        if !(0...65535).contains(webPort) { problems.append("web.port: \(webPort) is not a port number (1-65535)") }
        if webAddress.isEmpty { problems.append("web.address: is empty") }
        if usersFile.isEmpty { problems.append("web.users: is empty (a path, relative to the manager's home)") }
        if !(1...(1 << 30)).contains(storeQuotaMB) { problems.append("store.quota_mb: \(storeQuotaMB) must be 1 to \(1 << 30) (MiB)") }
        if !(sweepSeconds > 0) { problems.append("store.sweep_s: \(sweepSeconds) must be more than 0") }
        if controlSocket.isEmpty { problems.append("control_socket: is empty (a path, relative to the manager's home)") }
        if releaseMaxConnections < 1 { problems.append("release_queue.max_connections: \(releaseMaxConnections) must be at least 1") }
        if !(releaseRetryInitialSeconds > 0) { problems.append("release_queue.retry_initial_s: \(releaseRetryInitialSeconds) must be more than 0") }
        if !(releaseRetryMaxSeconds >= releaseRetryInitialSeconds) {
            problems.append("release_queue.retry_max_s: \(releaseRetryMaxSeconds) must be at least retry_initial_s (\(releaseRetryInitialSeconds))")
        }
        if !(releaseMaxQueueLifetimeSeconds > 0) { problems.append("release_queue.max_queue_lifetime_s: \(releaseMaxQueueLifetimeSeconds) must be more than 0") }
        if !(releaseRescanSeconds > 0) { problems.append("release_queue.rescan_s: \(releaseRescanSeconds) must be more than 0") }
        problems += ssh.problems()
        if sshClientKey.isEmpty { problems.append("ssh_client.key: is empty (a path, relative to the manager's home)") }
        if !(sshClientTimeoutSeconds > 0) { problems.append("ssh_client.timeout_s: \(sshClientTimeoutSeconds) must be more than 0") }
        if !(sshClientCacheSeconds >= 0) { problems.append("ssh_client.cache_s: \(sshClientCacheSeconds) must not be negative") }
        do {
            _ = try tlsConfiguration().validate()
        } catch {
            problems.append("cpq: \(error)")
        }
        if !problems.isEmpty { throw ManagerError(problems.joined(separator: "\n")) }
    }

    /// The YAML text of this configuration (what `lazaret up` writes).
    public func yaml() -> String {
        """
        # Lazaret manager configuration (docs/CPQ.md); relative paths are under this file's directory.
        hostname: \(hostname)
        cpq_listener: {address: \(listenerAddress), port: \(listenerPort), max_connections: \(maxConnections)}
        cpq: {directory: \(cpqDirectory), ciphers: "\(ciphers)", min_tls: \(minimumTLS)}
        store: {directory: \(storeDirectory), quota_mb: \(storeQuotaMB), sweep_s: \(Self.number(sweepSeconds))}
        logs: {mail_logs: \(mailLogs)}
        control_socket: \(controlSocket)
        web: {address: \(webAddress), port: \(webPort), users: \(usersFile)}
        release_queue: {max_connections: \(releaseMaxConnections), retry_initial_s: \(Self.number(releaseRetryInitialSeconds)), retry_max_s: \(Self.number(releaseRetryMaxSeconds)), max_queue_lifetime_s: \(Self.number(releaseMaxQueueLifetimeSeconds)), rescan_s: \(Self.number(releaseRescanSeconds))}
        ssh_client: {key: \(sshClientKey), timeout_s: \(Self.number(sshClientTimeoutSeconds)), cache_s: \(Self.number(sshClientCacheSeconds))}
        \(Self.sshYAML(ssh))

        """
    }

    /// The `ssh:` section as block YAML.
    static func sshYAML(_ ssh: SSHConfiguration) -> String {
        guard let text = try? YAMLEncoder().encode(ssh) else { return "ssh: {}" }
        return "ssh:\n" + text.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")
    }

    private static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}

/// A manager problem, with a message that says what to do.
public struct ManagerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
