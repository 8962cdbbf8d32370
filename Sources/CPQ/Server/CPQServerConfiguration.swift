import SMTPProtocol

/// How a `cpq_listener` runs: the SMTP side (TLS mandatory, `XCPQ` as an
/// extension verb) and the CPQ side (versions, limits).
public struct CPQServerConfiguration: Sendable {
    /// The 220 text after the host name: `220 <hostname> ESMTP Lazaret CPQ`.
    public var greeting: String
    /// Message size (the manager's limit), recipients (1000), TLS required
    /// (by default: 1000 recipients, TLS as ``requireTLS`` says).
    public var policy: SMTPSessionPolicy
    /// STARTTLS before anything else, `XCPQ` announced only after it. Off only in tests.
    public var requireTLS: Bool
    /// Announced as `XCPQ 1`.
    public var versions: [Int]

    public init(
        greeting: String = "Lazaret CPQ",
        policy: SMTPSessionPolicy? = nil,
        requireTLS: Bool = true,
        versions: [Int] = CPQDefaults.versions
    ) {
        self.greeting = greeting
        self.policy = policy ?? SMTPSessionPolicy(maxRecipientsPerMessage: CPQDefaults.maxRecipients,
                                                  tls: requireTLS ? .required : .preferred)
        self.requireTLS = requireTLS
        self.versions = versions
    }

    /// `base` (names, TLS context, time limits) made into a `cpq_listener`'s:
    /// ``SMTPServerConfiguration/requireTLS`` as configured here and `XCPQ`
    /// added to ``SMTPServerConfiguration/extensionVerbs``.
    public func smtpConfiguration(_ base: SMTPServerConfiguration) -> SMTPServerConfiguration {
        var configuration = base
        configuration.requireTLS = requireTLS
        configuration.extensionVerbs.insert(CPQDefaults.verb)
        return configuration
    }
}
