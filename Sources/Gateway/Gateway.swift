import AdminCLI
import CPQ
import CPQTLS
import Foundation
import Logging
import MailLog
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import SMTPProtocol
import Scanning
import ServiceLifecycle
import Spool
import UnixSignals

/// The `gateway` role assembled: listeners (HAT/RAT) → spool → work queue (the
/// scanning pipeline) → delivery queues.
///
/// Run it as a `Service` in a `ServiceGroup`. A graceful shutdown goes in
/// order: the listeners stop accepting; open sessions end (idle ones get
/// `421 4.3.2` at once, one in a transaction may finish it, all are closed
/// after `drainTimeout`); then the queues finish their current transactions
/// and stop; then the spool is closed. Cancellation does the same without
/// waiting. Everything acknowledged stays in the spool for the next start.
public final class Gateway: Service {
    public let configuration: GatewayConfiguration
    /// The directory relative paths in the configuration are resolved against.
    public let home: String
    /// How long inbound sessions may take to finish on a graceful shutdown.
    public let drainTimeout: TimeAmount
    private let group: EventLoopGroup
    /// The file the configuration came from; SIGHUP reads it again.
    public let configurationPath: String?
    private let onReady: @Sendable ([String]) -> Void

    public init(configuration: GatewayConfiguration, home: String, configurationPath: String? = nil,
                group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                drainTimeout: TimeAmount = .seconds(30),
                onReady: @escaping @Sendable ([String]) -> Void = { _ in }) {
        self.configuration = configuration
        self.home = home
        self.configurationPath = configurationPath
        self.group = group
        self.drainTimeout = drainTimeout
        self.onReady = onReady
    }

    /// A path from the configuration, made absolute against `home`.
    public func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : (home as NSString).appendingPathComponent(path)
    }

    public func run() async throws {
        // SIGHUP is trapped before anything listens: an admin (or a test) who sees the
        // port answer may send it at once, and its default action would end the process.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let config = configuration
        let logPath = resolve(config.logs.mailLogs)
        try FileManager.default.createDirectory(atPath: (logPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let log = try MailLog(path: logPath)
        let spool: Spool
        do {
            spool = try Spool.open(directory: resolve(config.spool.directory), options: SpoolOptions(fsync: config.spool.fsync))
        } catch {
            log.critical("Spool cannot be opened: \(error)")
            throw error
        }
        defer { spool.close() }

        let delivery = config.delivery
        let policy = DeliveryPolicy(
            localHostname: config.hostname,
            retry: RetrySchedule(initial: Double(delivery.retryInitialSeconds), maximum: Double(delivery.retryMaxSeconds)),
            maxQueueLifetime: Double(delivery.maxQueueLifetimeSeconds),
            hostDownAfterFailures: delivery.hostDownAfterFailures)
        let routerBox = NIOLockedValueBox<MessageRouter?>(nil)
        var queues: [String: DeliveryQueue] = [:]
        let bounceHandler: BounceHandler = { envelope, body, failed in
            guard let router = routerBox.withLockedValue({ $0 }) else { throw GatewayError("the router is not ready") }
            try await router.bounce(envelope, body: body, failed)
        }
        // The CPQ link, once this gateway has joined a manager: transfers, releases, reports.
        let quarantineTarget = config.effectiveDestinations.first { $0.name == config.scanning.quarantineDestination }
        let cpqDirectory = resolve(config.cpq.directory)
        let link = quarantineTarget == nil ? nil : CPQLink.load(config, directory: cpqDirectory, log: log)
        let ledger: ReleaseLedger?
        do {
            ledger = try link.map { _ in try ReleaseLedger(directory: cpqDirectory, fsync: config.spool.fsync) }
        } catch {
            log.critical("Gateway cannot start: \(error)")
            throw error
        }
        defer { ledger?.close() }
        var madeReporter: ReleaseReporter?
        if let link, let ledger, let target = quarantineTarget {
            madeReporter = ReleaseReporter(ledger: ledger, link: link, manager: (target.host, target.port), hostname: config.hostname,
                                       log: log, group: group, retrySeconds: Double(config.cpq.reportRetrySeconds))
        }
        let reporter = madeReporter
        var observe: (@Sendable (MessageEnvelope, [RecipientAttempt]) async -> Void)?
        if let reporter {
            observe = { envelope, attempts in await reporter.observe(envelope, attempts) }
        }
        for destination in config.effectiveDestinations {
            let target = Destination(name: destination.name, host: destination.host, port: destination.port,
                                     maxConnections: destination.maxConnections, tls: destination.tls)
            let customization: DeliveryCustomization
            if destination.name == config.scanning.quarantineDestination, let link {
                customization = link.transferCustomization(log: log, onAttempt: observe)
            } else {
                customization = DeliveryCustomization(onAttempt: observe)
            }
            queues[destination.name] = DeliveryQueue(destination: target, policy: policy, spool: spool, log: log, group: group,
                                                     customization: customization, onBounce: bounceHandler)
        }
        let router = MessageRouter(defaultDestination: delivery.defaultDestination ?? config.destinations.first?.name ?? "smarthost", queues: queues,
                                   spool: spool, log: log, hostname: config.hostname)
        routerBox.withLockedValue { $0 = router }
        if let reporter { router.attach(reporter) }

        // The scanning pipeline.
        let scanning = config.scanning
        let engine = await ScanSetup.engine(scanning.antivirus, log: log, announce: { print($0) })
        let rulesPath = resolve(scanning.outbreak.rules)
        let rules: OutbreakRules
        let pipeline: ScanPipeline
        let hold: OutbreakHold?
        do {
            rules = try OutbreakWatcher.initialRules(path: rulesPath, log: log)
            pipeline = try ScanSetup.pipeline(config, engine: engine, rules: rules)
            hold = scanning.outbreak.enabled ? try OutbreakHold(directory: resolve(scanning.outbreak.heldCopies)) : nil
        } catch {
            log.critical("Gateway cannot start: \(error)")
            throw error
        }
        let work = WorkQueue(pipeline: pipeline, spool: spool, log: log, router: router,
                             settings: .init(hostname: config.hostname, quarantineDestination: scanning.quarantineDestination,
                                             workers: scanning.workers, outbreakQuarantine: scanning.outbreak.quarantine),
                             hold: hold)
        router.attach(work)
        let watcher = hold.map {
            OutbreakWatcher(rulesPath: rulesPath, pollSeconds: scanning.outbreak.pollSeconds, work: work, hold: $0, log: log, engine: engine)
        }
        log.info("Pipeline: \(pipeline.messageFilters.names.count) message filter(s), \(pipeline.policies.count) mail policies, anti-virus \(engine == nil ? "off" : "on"), outbreak filters \(scanning.outbreak.enabled ? "on (rules version \(rules.version))" : "off")")

        // The mail commands of the control socket (`lazaret cli`).
        let admin = GatewayAdmin(configuration: config, router: router, work: work, log: log, mailLogPath: logPath)

        // Listeners.
        let reverseDNS = ReverseDNS()
        let rates = RateLimiter()
        let sessions = SMTPServerConnections()
        var servers: [Channel] = []
        var ready: [String] = []
        do {
            for listener in config.listeners {
                let interface = config.interfaces.first { $0.name == listener.interface }!
                let context = ListenerContext(
                    listener: listener, interfaceName: interface.name, hostname: config.hostname,
                    hat: try listener.hostAccessTable(), rat: try listener.recipientAccessTable(), spool: spool, log: log, rates: rates,
                    reverseDNS: reverseDNS, router: router)
                let serverConfiguration = SMTPServerConfiguration(
                    listenerName: listener.name, hostname: config.hostname,
                    tlsContext: try tlsContext(for: listener),
                    greetingDelay: .milliseconds(Int64(listener.greetingDelayMilliseconds)))
                let gate = admin.gate(for: listener.name)
                let channel = try await SMTPServer.bind(
                    host: interface.address, port: listener.port, group: group,
                    configuration: serverConfiguration, maxConnections: listener.maxConnections, connections: sessions,
                    gate: gate, makeDelegate: { ListenerSession(context: context) }).get()
                servers.append(channel)
                let port = channel.localAddress?.port ?? listener.port
                admin.register(ListenerInfo(name: listener.name, kind: .smtp, interface: interface.name, address: interface.address,
                                            port: port, type: listener.type.rawValue, maxConnections: listener.maxConnections,
                                            hat: listener.hat, rat: listener.rat), gate: gate)
                ready.append("listener \(listener.name) (SMTP, \(listener.type.rawValue)) on \(interface.address):\(port)")
                log.info("Listener \(listener.name) listening on \(interface.name) (\(interface.address)) port \(port)")
            }
            // The cpq_listener: releases from the manager (only its certificate is accepted).
            if let link, let ledger {
                let intake = ReleaseIntake(spool: spool, router: router, ledger: ledger, log: log,
                                           managerFingerprint: link.bundle.managerFingerprint)
                await intake.mendLedger(recovered: spool.recovered)
                let interface = config.cpq.listenerInterface.flatMap(config.interface(named:)) ?? config.interfaces[0]
                let gate = admin.gate(for: Self.cpqListenerName)
                let channel = try await Self.bindCPQListener(config: config, interface: interface, link: link, intake: intake,
                                                             spool: spool, group: group, connections: sessions, gate: gate)
                servers.append(channel)
                let port = channel.localAddress?.port ?? config.cpq.listenerPort
                admin.register(ListenerInfo(name: Self.cpqListenerName, kind: .cpq, interface: interface.name, address: interface.address,
                                            port: port, type: "releases from the manager, mutual TLS",
                                            maxConnections: config.cpq.listenerMaxConnections,
                                            hat: "RELAYLIST:\n  the paired manager (certificate sha256 \(link.bundle.managerFingerprint.hex))\n    ACCEPT\nALL\n  REJECT"),
                               gate: gate)
                ready.append("cpq_listener (CPQ, releases from the manager, mutual TLS) on \(interface.address):\(port)")
                log.info("Listener cpq_listener listening on \(interface.name) (\(interface.address)) port \(port)")
            }
        } catch {
            for server in servers { try? await server.close() }
            log.critical("Gateway cannot start: \(error)")
            throw error
        }
        // The mail commands: on the control socket for lazaret cli, and over SSH.
        let table = CommandTable(MailAdminCommands(system: admin).commands)
        let control: ControlServer
        let ssh: SSHAdminServer?
        do {
            control = try await ControlServer.start(socketPath: resolve(config.controlSocket), group: group) { args in
                await table.handle(args)
            }
            do {
                ssh = try await SSHAdminServer.start(role: "gateway", configuration: config.ssh, home: config.home,
                                                     defaultPort: SSHConfiguration.gatewayDefaultPort,
                                                     extraUsers: Self.managerSSHUser(cpqDirectory: cpqDirectory), commands: table,
                                                     group: group, log: { log.info($0) })
            } catch {
                await control.close()
                throw error
            }
        } catch {
            for server in servers { try? await server.close() }
            log.critical("Gateway cannot start: \(error)")
            throw error
        }
        log.info("Control socket \(control.socketPath) ready")
        ready.append("control socket \(control.socketPath) (lazaret cli)")
        if let ssh {
            ready.append("admin CLI over SSH on \(config.ssh.listen):\(ssh.port) (host key \(ssh.hostKey.fingerprint))")
        }
        for destination in config.effectiveDestinations {
            ready.append("delivery queue \(destination.name) → \(destination.host):\(destination.port)")
        }

        // Everything acknowledged before the last stop goes out again.
        let recovered = spool.recovered
        for message in recovered { await router.route(message) }
        log.info("Gateway started: \(config.listeners.count) listener(s), \(recovered.count) message(s) recovered from the spool")
        ready.append("mail_logs \(logPath)")
        onReady(ready)

        let listeners = servers
        let allQueues = Array(queues.values)
        let drainTimeout = self.drainTimeout
        let stopped = NIOLockedValueBox(false)
        await withDiscardingTaskGroup { taskGroup in
            // The queues ignore graceful shutdown: they stop last, when told (or on cancellation).
            for queue in allQueues {
                taskGroup.addTask { await queue.runUntilShutdown() }
            }
            taskGroup.addTask { await work.run() }
            if let reporter {
                taskGroup.addTask { await reporter.run(isStopped: { stopped.withLockedValue { $0 } }) }
            }
            if let watcher {
                taskGroup.addTask { await watcher.run(stopped: { stopped.withLockedValue { $0 } }) }
            }
            taskGroup.addTask {
                // SIGHUP: read the configuration again and put new filters in force.
                await cancelWhenGracefulShutdown {
                    for await _ in hangups {
                        await self.reload(work: work, engine: engine, log: log)
                        await watcher?.check()
                    }
                }
            }
            taskGroup.addTask {
                let cancelled = (try? await gracefulShutdown()) == nil
                stopped.withLockedValue { $0 = true }
                await control.close()
                await ssh?.close()
                for server in listeners { try? await server.close() }
                log.info("Gateway stopping: listeners closed, \(sessions.count) inbound session(s) to finish")
                await sessions.drain(timeout: cancelled ? .zero : drainTimeout)
                // Messages being scanned finish and reach their queues; the rest wait in the spool.
                await work.stopAndWait()
                for queue in allQueues { await queue.shutdown() }
                reporter?.stop()
            }
        }
        for line in work.timings.summary() { log.info("Pipeline timing \(line)") }
        log.info("Gateway stopped")
    }

    /// The manager's SSH login on this gateway: read-only, by the key the manager sent in
    /// the join bundle (`manager-ssh.pub` in the CPQ directory), so that it can ask
    /// `interfaceconfig --json` before releasing. None before joining.
    static func managerSSHUser(cpqDirectory: String) -> [SSHUser] {
        guard let line = CPQJoinBundle.readManagerSSHKey(directory: cpqDirectory) else { return [] }
        return [SSHUser(name: SSHAdminServer.managerUserName, role: .readOnly, authorizedKeys: [line])]
    }

    /// Reads the configuration file again; valid filters, mail policies and anti-virus
    /// actions take effect for every message scanned from now on, without dropping a
    /// session. A file with any error changes nothing (the error is logged).
    func reload(work: WorkQueue, engine: (any AntivirusEngine)?, log: MailLog) async {
        guard let configurationPath else {
            log.warning("Configuration reload asked, but this gateway was not started from a file; nothing changed")
            return
        }
        do {
            let fresh = try GatewayConfiguration.load(path: configurationPath)
            let pipeline = try ScanSetup.pipeline(fresh, engine: engine, rules: work.current.outbreakRules)
            work.reload(pipeline)
            log.info("Configuration reloaded from \(configurationPath): \(pipeline.messageFilters.names.count) message filter(s), \(pipeline.policies.count) mail policies in force (listener, destination and spool changes need a restart)")
        } catch {
            log.warning("Configuration reload failed, the running configuration stays in force: \(error)")
        }
    }

    /// The name of the listener that takes releases from the manager.
    static let cpqListenerName = "cpq_listener"

    /// Binds the gateway's `cpq_listener`: SMTP with `XCPQ` (RELEASE only), STARTTLS
    /// mandatory, the client certificate verified against the CPQ CA and pinned to the manager.
    private static func bindCPQListener(config: GatewayConfiguration, interface: GatewayConfiguration.Interface, link: CPQLink,
                                        intake: ReleaseIntake, spool: Spool, group: EventLoopGroup,
                                        connections: SMTPServerConnections, gate: SMTPListenerGate) async throws -> Channel {
        let cpq = CPQServerConfiguration(requireTLS: true)
        var smtp = cpq.smtpConfiguration(SMTPServerConfiguration(listenerName: "cpq_listener", hostname: config.hostname,
                                                                 tlsContext: link.server.sslContext))
        let server = link.server
        smtp.makeTLSSession = { _ in
            let verification = CPQPeerVerification(role: .server)
            return SMTPServerTLSSession(handler: server.makeHandler(verification: verification),
                                        describeError: { verification.failure(for: $0).description })
        }
        return try await SMTPServer.bind(host: interface.address, port: config.cpq.listenerPort, group: group,
                                         configuration: smtp, maxConnections: config.cpq.listenerMaxConnections,
                                         connections: connections, gate: gate) {
            CPQServerDelegate(backend: .gateway(ReleaseBackend(intake: intake, icid: spool.nextICID(), interfaceName: interface.name)),
                              configuration: cpq)
        }.get()
    }

    private func tlsContext(for listener: GatewayConfiguration.Listener) throws -> NIOSSLContext? {
        guard let tls = listener.tls else { return nil }
        let certificate = resolve(tls.certificate)
        let key = resolve(tls.key)
        try SelfSignedCertificate.ensure(certificatePath: certificate, keyPath: key, hostname: configuration.hostname)
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
            let privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
            let tlsConfiguration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(privateKey))
            return try NIOSSLContext(configuration: tlsConfiguration)
        } catch {
            throw GatewayError("listeners[\(listener.name)].tls: cannot load \(certificate) / \(key): \(error); fix or delete the files (new self-signed ones are made on start)")
        }
    }
}
