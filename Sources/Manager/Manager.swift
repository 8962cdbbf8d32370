import AdminCLI
import CPQ
import CPQTLS
import Foundation
import Logging
import MailLog
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import QuarantineStore
import SMTPProtocol
import ServiceLifecycle
import WebUI

/// The `manager` role: the CPQ CA (made on first start), the quarantine store, and the
/// cpq_listener that takes transfers from paired gateways over mutual TLS and stores
/// them before answering 250 (docs/CPQ.md, flow 1), and `the.cpq.release.host`, which
/// delivers released mail back to its gateway (flow 2). Search and the API come with the
/// later issues.
public final class Manager: Service {
    public let configuration: ManagerConfiguration
    private let group: any EventLoopGroup
    private let onReady: @Sendable ([String]) -> Void

    public init(configuration: ManagerConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                onReady: @escaping @Sendable ([String]) -> Void = { _ in }) {
        self.configuration = configuration
        self.group = group
        self.onReady = onReady
    }

    /// The CA in `configuration`'s cpq directory, made on first use.
    public static func authority(_ configuration: ManagerConfiguration) throws -> CPQAuthority {
        try CPQAuthority.loadOrCreate(directory: configuration.resolve(configuration.cpqDirectory),
                                      managerHostname: configuration.hostname,
                                      managerAddresses: [configuration.listenerAddress])
    }

    public func run() async throws {
        let config = configuration
        let logPath = config.resolve(config.mailLogs)
        try FileManager.default.createDirectory(atPath: (logPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let log = try MailLog(path: logPath)
        let authority: CPQAuthority
        let store: QuarantineStore
        let listener: any Channel
        do {
            authority = try Self.authority(config)
            var storeLogger = Logger(label: "lazaret.quarantine-store")
            storeLogger.logLevel = .warning
            var storeOptions = QuarantineStoreOptions(logger: storeLogger)
            storeOptions.quotaBytes = config.storeQuotaBytes
            store = try QuarantineStore.open(directory: config.resolve(config.storeDirectory), options: storeOptions)
        } catch {
            log.critical("Manager cannot start: \(error)")
            throw error
        }
        // Created before the listener (which asks it to free space); started below.
        let releaseBox = NIOLockedValueBox<ReleaseQueue?>(nil)
        let cpqGate = SMTPListenerGate()
        let sweeper = RetentionSweeper(store: store, log: log, onReleased: { request in
            await releaseBox.withLockedValue { $0 }?.enqueue(request)
        })
        do {
            let paired = authority.pairedGateways
            let serverTLS = try config.tlsConfiguration().makeServerContext(
                identity: authority.managerIdentity, authority: authority.certificate,
                acceptClient: { paired.isPaired(fingerprint: $0.fingerprint) },
                // A gateway without a certificate yet may connect to join (XCPQ JOIN), nothing else.
                allowNoClientCertificate: true)
            let cpq = CPQServerConfiguration(requireTLS: true)
            var smtp = cpq.smtpConfiguration(SMTPServerConfiguration(listenerName: "cpq_listener", hostname: config.hostname,
                                                                     tlsContext: serverTLS.sslContext))
            smtp.makeTLSSession = { _ in
                let verification = CPQPeerVerification(role: .server)
                return SMTPServerTLSSession(handler: serverTLS.makeHandler(verification: verification),
                                            describeError: { verification.failure(for: $0).description })
            }
            let icids = NIOLockedValueBox<UInt64>(0)
            listener = try await SMTPServer.bind(host: config.listenerAddress, port: config.listenerPort, group: group,
                                                 configuration: smtp, maxConnections: config.maxConnections, gate: cpqGate) {
                let icid = icids.withLockedValue { $0 += 1; return $0 }
                return CPQServerDelegate(backend: .manager(QuarantineBackend(store: store, paired: paired, log: log, icid: icid,
                                                                             interfaceName: "Management", authority: authority,
                                                                             freeUpSpace: { await sweeper.freeUpSpace(bytes: $0) })),
                                         configuration: cpq)
            }.get()
        } catch {
            try? store.close()
            log.critical("Manager cannot start: \(error)")
            throw error
        }
        let releases = ReleaseQueue(store: store, authority: authority, configuration: config, log: log, group: group,
                                    routes: GatewayRoutes(query: nil, log: log))
        releaseBox.withLockedValue { $0 = releases }
        let admin = ManagerAdmin(configuration: config, store: store, releases: releases, log: log, mailLogPath: logPath, cpqGate: cpqGate)
        admin.setPorts(cpq: listener.localAddress?.port ?? config.listenerPort, web: nil)
        let control: ControlServer
        do {
            control = try await Self.startControl(configuration: config, store: store, admin: admin, log: log)
        } catch {
            try? await listener.close()
            try? store.close()
            log.critical("Manager cannot start: \(error)")
            throw error
        }
        let port = listener.localAddress?.port ?? config.listenerPort
        // The web/API listener (/api/v1).
        let actions = ManagerQuarantineActions(store: store, onReleased: { await releases.enqueue($0) }, log: log)
        let router = APIServer.buildRouter(store: store, users: UserDirectory(path: config.resolve(config.usersFile)), actions: actions)
        var webLogger = Logger(label: "lazaret.web")
        webLogger.logLevel = .warning
        let webStarted = AsyncStream.makeStream(of: Int.self)
        let app = APIServer.application(router: router, address: config.webAddress, port: config.webPort, logger: webLogger,
                                        onRunning: { webStarted.continuation.yield($0) })
        await withDiscardingTaskGroup { tasks in
            tasks.addTask {
                do {
                    try await app.run()
                } catch {
                    log.critical("Web/API cannot listen on \(config.webAddress) port \(config.webPort): \(error); the API is off until the manager is restarted")
                }
                webStarted.continuation.finish()
            }
            var started = webStarted.stream.makeAsyncIterator()
            let webPort = await started.next()
            admin.setPorts(cpq: port, web: webPort)
            log.info("Manager started: cpq_listener on \(config.listenerAddress) port \(port), CPQ CA sha256 \(authority.fingerprint.hex), \((try? authority.pairedGateways.all().count) ?? 0) paired gateway(s)"
                + (webPort.map { ", web/API on \(config.webAddress) port \($0)" } ?? ", web/API off"))
            onReady(["cpq_listener on \(config.listenerAddress):\(port) (CPQ, mutual TLS)",
                     webPort.map { "web/API http://\(config.webAddress):\($0)/api/v1 (bearer tokens: lazaret manager token create NAME)" }
                        ?? "web/API off (see mail_logs)",
                     "CPQ CA \(config.resolve(config.cpqDirectory))/ca.pem",
                     "quarantine store \(config.resolve(config.storeDirectory))",
                     "control socket \(control.socketPath)",
                     "mail_logs \(logPath)"])
            tasks.addTask { await releases.run() }
            tasks.addTask { await cancelWhenGracefulShutdown { await sweeper.run(every: config.sweepSeconds) } }
            tasks.addTask {
                try? await gracefulShutdown()
                await control.close()
                try? await listener.close()
                await releases.shutdown()
            }
        }
        try? store.close()
        log.info("Manager stopped")
    }
}
