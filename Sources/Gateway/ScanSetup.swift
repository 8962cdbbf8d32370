import MailLog
import NIOCore
import Scanning

/// Builds the scanning pipeline a configuration describes.
enum ScanSetup {
    /// The pipeline for `configuration`, with `engine` (nil: anti-virus off) and the
    /// outbreak rules in force. Fails only on a configuration `validate()` would refuse.
    static func pipeline(_ configuration: GatewayConfiguration, engine: (any AntivirusEngine)?,
                         rules: OutbreakRules) throws -> ScanPipeline {
        let scanning = configuration.scanning
        let allowed = scanning.allQuarantines
        let filters = try FilterSet.parse(scanning.messageFilters, allowedQuarantines: allowed)
        let policies = try scanning.mailPolicies.map { settings in
            MailPolicy(name: settings.name, senders: try settings.senders.map(Pattern.init),
                       recipients: try settings.recipients.map(Pattern.init),
                       contentFilters: try FilterSet.parse(settings.contentFilters, allowedQuarantines: allowed),
                       antivirus: settings.antivirus, outbreak: settings.outbreak)
        }
        return ScanPipeline(messageFilters: filters, policies: policies,
                            antivirus: engine.map { ($0, scanning.antivirus.policy) },
                            outbreak: scanning.outbreak.enabled ? scanning.outbreak.policy : nil,
                            outbreakRules: rules)
    }

    /// The anti-virus engine the settings ask for. `auto` pings clamd once: no answer
    /// means anti-virus off, said loudly in mail_logs and on the console.
    static func engine(_ settings: GatewayConfiguration.AntivirusSettings, log: MailLog,
                       announce: @Sendable (String) -> Void) async -> (any AntivirusEngine)? {
        guard settings.enabled != .off, let address = ClamdAddress(settings.clamd) else {
            log.warning("Anti-virus is off (antivirus.enabled: off): messages are not scanned for viruses")
            return nil
        }
        let client = ClamdClient(address: address, timeout: .seconds(Int64(settings.timeoutSeconds)))
        if settings.enabled == .auto, !(await client.ping()) {
            let warning = "ANTI-VIRUS IS OFF: no clamd answers at \(address) (antivirus.enabled: auto). Install and start clamav-daemon, or set antivirus.enabled: on to hold mail until clamd answers."
            log.warning(warning)
            announce("WARNING: " + warning)
            return nil
        }
        let version = (try? await client.version()) ?? "not answering yet"
        log.info("Anti-virus: clamd at \(address) (\(version))")
        return client
    }
}
