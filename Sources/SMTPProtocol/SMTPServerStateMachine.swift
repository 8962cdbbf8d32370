import NIOCore

/// The server side of one SMTP session (RFC 5321 §3, §4.1.4 command order;
/// RFC 2920 pipelining; RFC 3030 CHUNKING; RFC 3207 STARTTLS) as a pure value.
///
/// The owner (normally ``SMTPServerHandler``) feeds events in — connection
/// decision, received bytes, delegate answers, TLS established, timeouts —
/// and carries out the ``Action``s that come back. Commands are processed one
/// at a time in the order received: while an answer from the delegate is
/// pending, ``nextAction()`` returns ``Action/wait``.
public struct SMTPServerStateMachine {
    /// The facts of the listener the machine needs.
    public struct Configuration: Sendable, Hashable {
        /// Our name in the greeting and replies.
        public var hostname: String
        /// A TLS context is configured, so STARTTLS can be offered.
        public var tlsAvailable: Bool
        /// More bad commands than this ends the session with `421 4.7.0`.
        public var maxBadCommands: Int
        /// Before TLS only EHLO, HELO, STARTTLS, NOOP and QUIT; the rest gets `530 5.7.0`.
        public var requireTLS: Bool
        /// Upper-case verbs handed to the delegate as ``SMTPCommand/extended(verb:argument:)``.
        public var extensionVerbs: Set<String>

        /// The listener facts; see the properties.
        public init(hostname: String, tlsAvailable: Bool, maxBadCommands: Int = SMTPDefaults.maxBadCommands,
                    requireTLS: Bool = false, extensionVerbs: Set<String> = []) {
            self.hostname = hostname
            self.tlsAvailable = tlsAvailable
            self.maxBadCommands = maxBadCommands
            self.requireTLS = requireTLS
            self.extensionVerbs = Set(extensionVerbs.map { $0.uppercased() })
        }
    }

    /// What the owner must do next.
    public enum Action {
        /// Nothing more to process: flush the replies written so far and read.
        case readMore
        /// Waiting for a delegate answer, the greeting or the TLS handshake.
        case wait
        /// Wait for the configured greeting delay, then call ``greetingDue()``.
        case scheduleGreeting
        /// Write this reply.
        case send(SMTPReply)
        /// Tell the delegate the transaction ended without a message, then write the reply.
        case sendAndAbortTransaction(SMTPReply, SMTPTransaction)
        /// Ask the delegate about MAIL FROM; answer with ``mailFromAnswered(_:)``.
        case askMailFrom(SMTPTransaction)
        /// Ask the delegate about one recipient; answer with ``rcptToAnswered(_:)``.
        case askRcptTo(String, SMTPTransaction)
        /// Hand the message to the delegate; answer with ``messageAnswered(_:)``.
        case askMessage(SMTPTransaction, ByteBuffer)
        /// Ask the delegate about an extension command (with the open
        /// transaction, if any); answer with ``extensionAnswered(_:)``.
        case askExtension(verb: String, argument: String, transaction: SMTPTransaction?)
        /// RSET, EHLO or HELO: tell the delegate the transaction (if any) was
        /// aborted, then that the session was reset, then write the reply.
        case resetSession(SMTPReply, abortedTransaction: SMTPTransaction?)
        /// Write the reply, flush, then start TLS; call ``tlsEstablished()`` when done.
        case startTLS(SMTPReply)
        /// Write the reply (if any), flush and close. Abort the transaction (if any) first.
        case close(SMTPReply?, reason: String, abortedTransaction: SMTPTransaction?)
    }

    enum State {
        case idle
        case awaitingDecision
        case awaitingGreeting(SMTPReply)
        case rejected
        case ready
        case awaitingMailFromAnswer(SMTPTransaction)
        case awaitingRcptAnswer(String)
        case awaitingMessageAnswer
        case awaitingExtensionAnswer
        case receivingData
        case receivingChunk
        case startingTLS
        case closed
    }

    public let configuration: Configuration
    private(set) var state: State = .idle
    /// The framer holding the input not yet processed.
    public private(set) var framer: SMTPServerFramer
    /// The session limits from the connection decision.
    public private(set) var policy = SMTPSessionPolicy()
    /// True after STARTTLS completed.
    public private(set) var isTLS = false
    /// The EHLO/HELO argument, nil until one was accepted (and again after STARTTLS).
    public private(set) var heloName: String?
    /// The open transaction (after an accepted MAIL).
    public private(set) var transaction: SMTPTransaction?
    /// Messages handed to the delegate in this session.
    public private(set) var messageCount = 0
    /// Bad commands so far (unknown, syntax, sequence errors, over-long lines).
    public private(set) var badCommandCount = 0
    /// Command lines read so far; owners reset their idle timer when it grows.
    public private(set) var completedCommandCount = 0
    private var transactionUsesChunking = false
    private var pendingChunkReply: SMTPReply?
    /// The server is shutting down: end the session at the next point between transactions.
    public private(set) var isShuttingDown = false
    /// Keyword lines the owner adds to the EHLO reply for the current TLS state.
    public private(set) var additionalEHLOKeywords: [String] = []

    /// A machine for a new connection; call ``connectionOpened()`` next.
    public init(configuration: Configuration, framer: SMTPServerFramer = SMTPServerFramer()) {
        self.configuration = configuration
        self.framer = framer
    }

    // MARK: - Queries

    /// True while a delegate answer is outstanding.
    public var isAwaitingDelegate: Bool {
        switch state {
        case .awaitingDecision, .awaitingMailFromAnswer, .awaitingRcptAnswer, .awaitingMessageAnswer, .awaitingExtensionAnswer: true
        default: false
        }
    }

    /// True while the answer to MAIL, RCPT or a message is outstanding: the
    /// owner may stop reading from the socket meanwhile (back-pressure).
    public var shouldPauseReading: Bool {
        switch state {
        case .awaitingMailFromAnswer, .awaitingRcptAnswer, .awaitingMessageAnswer, .awaitingExtensionAnswer: true
        default: false
        }
    }

    /// True while DATA or a BDAT chunk is being read (the data-rate rule applies).
    public var isReceivingMessage: Bool {
        switch state {
        case .receivingData, .receivingChunk: true
        default: false
        }
    }

    /// True once the session is over.
    public var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// STARTTLS is announced and allowed now.
    public var offersSTARTTLS: Bool {
        configuration.tlsAvailable && policy.tls != .off && !isTLS
    }

    // MARK: - Connection events

    /// The connection is up; the owner now asks the delegate for a decision.
    public mutating func connectionOpened() {
        if case .idle = state { state = .awaitingDecision }
    }

    /// The delegate's answer to `connectionOpened` (RFC 5321 §3.1, §4.3.2).
    public mutating func connectionDecision(_ result: Result<SMTPConnectionDecision, any Error>) -> Action {
        guard case .awaitingDecision = state else { return .wait }
        switch result {
        case .success(.accept(let policy, let greeting)):
            self.policy = policy
            state = .awaitingGreeting(SMTPServerReplies.greeting(hostname: configuration.hostname, text: greeting))
            return .scheduleGreeting
        case .success(.reject(let reply)):
            state = .rejected
            return .send(reply)
        case .success(.refuse):
            return close(nil, reason: "refused")
        case .failure:
            return close(SMTPServerReplies.localErrorClosing, reason: "local error")
        }
    }

    /// The greeting delay is over: send the greeting now.
    public mutating func greetingDue() -> Action {
        guard case .awaitingGreeting(let greeting) = state else { return .wait }
        state = .ready
        return .send(greeting)
    }

    /// Bytes from the client. Returns an action only when they end the
    /// session (a client talking before the greeting, RFC 5321 §4.3.1).
    public mutating func receivedBytes(_ bytes: ByteBuffer) -> Action? {
        switch state {
        case .closed:
            return nil
        case .idle, .awaitingDecision, .awaitingGreeting:
            return close(SMTPServerReplies.protocolViolation, reason: "early talker")
        default:
            framer.append(bytes)
            return nil
        }
    }

    /// Sets the keyword lines added to EHLO replies from now on (before
    /// `HELP`); lines that are empty or hold control characters are dropped.
    public mutating func setAdditionalEHLOKeywords(_ keywords: [String]) {
        additionalEHLOKeywords = keywords.filter { line in
            !line.isEmpty && line.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F }
        }
    }

    /// TLS negotiation finished: forget everything learnt before (RFC 3207 §4.2).
    public mutating func tlsEstablished() {
        guard case .startingTLS = state else { return }
        isTLS = true
        heloName = nil
        transaction = nil
        transactionUsesChunking = false
        state = .ready
    }

    /// No complete command within the command timeout (RFC 5321 §4.5.3.2.7).
    public mutating func commandTimedOut() -> Action {
        if isClosed { return .wait }
        return close(SMTPServerReplies.timeout(hostname: configuration.hostname), reason: "timeout")
    }

    /// DATA or BDAT octets arrive slower than the minimum rate.
    public mutating func dataRateTooLow() -> Action {
        if isClosed { return .wait }
        return close(SMTPServerReplies.timeout(hostname: configuration.hostname), reason: "data rate too low")
    }

    /// The server is shutting down (RFC 5321 §3.8): outside a transaction the
    /// session ends now with `421 4.3.2`; a transaction in progress may finish
    /// (its message gets its reply), then the `421` follows.
    public mutating func shutdownRequested() -> Action {
        if isClosed { return .wait }
        isShuttingDown = true
        return closeIfShuttingDownAndIdle() ?? .wait
    }

    private mutating func closeIfShuttingDownAndIdle() -> Action? {
        guard isShuttingDown, transaction == nil, !framer.hasOpenChunkedMessage else { return nil }
        switch state {
        case .idle, .awaitingDecision, .awaitingGreeting, .ready, .rejected:
            return close(SMTPServerReplies.shuttingDown(hostname: configuration.hostname), reason: "shutdown")
        case .awaitingMailFromAnswer, .awaitingRcptAnswer, .awaitingMessageAnswer, .awaitingExtensionAnswer,
             .receivingData, .receivingChunk, .startingTLS, .closed:
            return nil
        }
    }

    /// The connection is gone; returns the transaction to report as aborted.
    public mutating func connectionClosed() -> SMTPTransaction? {
        let open = transaction
        transaction = nil
        state = .closed
        framer.discardBufferedBytes()
        framer.abortMessage()
        return open
    }

    // MARK: - Delegate answers

    /// The delegate's answer to MAIL FROM; a failed future is `451 4.3.0`.
    public mutating func mailFromAnswered(_ result: Result<SMTPReply, any Error>) -> Action {
        guard case .awaitingMailFromAnswer(let candidate) = state else { return .wait }
        state = .ready
        let reply = Self.reply(from: result)
        if reply.isPositiveCompletion { transaction = candidate }
        return .send(reply)
    }

    /// The delegate's answer to RCPT TO; a failed future is `451 4.3.0`.
    public mutating func rcptToAnswered(_ result: Result<SMTPReply, any Error>) -> Action {
        guard case .awaitingRcptAnswer(let recipient) = state else { return .wait }
        state = .ready
        let reply = Self.reply(from: result)
        if reply.isPositiveCompletion { transaction?.recipients.append(recipient) }
        return .send(reply)
    }

    /// The delegate's answer to a received message; a failed future is `451 4.3.0`.
    public mutating func messageAnswered(_ result: Result<SMTPReply, any Error>) -> Action {
        guard case .awaitingMessageAnswer = state else { return .wait }
        state = .ready
        return .send(Self.reply(from: result))
    }

    /// The delegate's answer to an extension command; a failed future is
    /// `451 4.3.0`, a 5xx answer counts as a bad command.
    public mutating func extensionAnswered(_ result: Result<SMTPReply, any Error>) -> Action {
        guard case .awaitingExtensionAnswer = state else { return .wait }
        state = .ready
        let reply = Self.reply(from: result)
        if reply.isPermanentFailure { return badCommand(reply) }
        return .send(reply)
    }

    private static func reply(from result: Result<SMTPReply, any Error>) -> SMTPReply {
        switch result {
        case .success(let reply): reply
        case .failure: SMTPServerReplies.localError
        }
    }

    // MARK: - Input processing

    /// Processes the next buffered command or message end, if any.
    public mutating func nextAction() -> Action {
        if let close = closeIfShuttingDownAndIdle() { return close }
        switch state {
        case .ready, .rejected, .receivingData, .receivingChunk:
            break
        default:
            return .wait
        }
        guard let event = framer.next() else { return .readMore }
        switch event {
        case .lineTooLong:
            completedCommandCount += 1
            if case .rejected = state { return badCommand(SMTPServerReplies.badSequence) }
            return badCommand(SMTPServerReplies.lineTooLong)
        case .command(let line):
            completedCommandCount += 1
            let command: SMTPCommand
            do {
                command = try SMTPCommandParser.parse(line, extensionVerbs: configuration.extensionVerbs)
            } catch {
                if case .rejected = state { return badCommand(SMTPServerReplies.badSequence) }
                return badCommand(error.reply)
            }
            if case .rejected = state {
                if command == .quit { return close(SMTPServerReplies.closing(hostname: configuration.hostname), reason: "QUIT") }
                return badCommand(SMTPServerReplies.badSequence)
            }
            return handle(command)
        case .messageData(let outcome):
            state = .ready
            return finishMessage(outcome)
        case .chunk(let octets, _, let outcome):
            state = .ready
            if let reply = pendingChunkReply {
                pendingChunkReply = nil
                return badCommand(reply)
            }
            guard let outcome else { return .send(SMTPServerReplies.chunkReceived(octets)) }
            return finishMessage(outcome)
        }
    }

    /// RFC 3207 §4: with ``Configuration/requireTLS`` only these are accepted before TLS.
    private func isAllowedBeforeTLS(_ command: SMTPCommand) -> Bool {
        switch command {
        case .ehlo, .helo, .startTLS, .noop, .quit: true
        // BDAT is refused where its chunk can be read and dropped.
        case .bdat: true
        default: false
        }
    }

    private var mustStartTLSFirst: Bool { configuration.requireTLS && !isTLS }

    private mutating func handle(_ command: SMTPCommand) -> Action {
        if mustStartTLSFirst, !isAllowedBeforeTLS(command) { return badCommand(SMTPServerReplies.mustStartTLS) }
        switch command {
        case .ehlo(let name), .helo(let name):
            heloName = name
            let reply: SMTPReply
            if case .ehlo = command {
                reply = SMTPServerReplies.ehlo(
                    hostname: configuration.hostname,
                    client: name,
                    maxMessageSize: policy.maxMessageSize,
                    offerSTARTTLS: offersSTARTTLS,
                    additional: additionalEHLOKeywords
                )
            } else {
                reply = SMTPServerReplies.helo(hostname: configuration.hostname, client: name)
            }
            return .resetSession(reply, abortedTransaction: takeTransaction())

        case .mail(let path, let parameters):
            guard let heloName else { return badCommand(SMTPServerReplies.needHelo) }
            if policy.tls == .required, !isTLS { return badCommand(SMTPServerReplies.mustStartTLS) }
            guard transaction == nil else { return badCommand(SMTPServerReplies.nestedMail) }
            // RFC 3030 §3: BINARYMIME is not announced, so the body must keep CRLF line ends.
            if parameters["BODY"] == "BINARYMIME" { return .send(SMTPServerReplies.binaryMIMENotSupported) }
            if messageCount >= policy.maxMessagesPerSession { return .send(SMTPServerReplies.tooManyMessages) }
            if let size = parameters["SIZE"].flatMap({ Int($0) }), size > policy.maxMessageSize {
                return .send(SMTPServerReplies.messageTooLarge)
            }
            let candidate = SMTPTransaction(mailFrom: path, heloName: heloName, mailParameters: parameters, tls: isTLS)
            state = .awaitingMailFromAnswer(candidate)
            return .askMailFrom(candidate)

        case .rcpt(let path, _):
            guard let open = transaction else { return badCommand(SMTPServerReplies.needMail) }
            if !SMTPCommandParser.isASCII(path), open.mailParameters["SMTPUTF8"] == nil {
                return .send(SMTPServerReplies.nonASCIIWithoutSMTPUTF8)
            }
            if open.recipients.count >= policy.maxRecipientsPerMessage {
                return .send(SMTPServerReplies.tooManyRecipients)
            }
            state = .awaitingRcptAnswer(path)
            return .askRcptTo(path, open)

        case .data:
            guard let open = transaction else { return badCommand(SMTPServerReplies.needMail) }
            if transactionUsesChunking { return badCommand(SMTPServerReplies.dataAfterBdat) }
            if open.recipients.isEmpty { return badCommand(SMTPServerReplies.noValidRecipients) }
            if framer.bufferedByteCount > 0 {
                // RFC 2920 §3.1: DATA ends a pipelined group; the body must wait for 354.
                return close(SMTPServerReplies.protocolViolation, reason: "message data sent before 354")
            }
            framer.beginData(maxMessageSize: policy.maxMessageSize)
            state = .receivingData
            return .send(SMTPServerReplies.startData)

        case .bdat(let size, let last):
            var refusal: SMTPReply?
            if mustStartTLSFirst {
                refusal = SMTPServerReplies.mustStartTLS
            } else if let open = transaction {
                if open.recipients.isEmpty { refusal = SMTPServerReplies.noValidRecipients }
            } else {
                refusal = SMTPServerReplies.needMail
            }
            state = .receivingChunk
            if let refusal {
                // RFC 3030 §2: the chunk follows the command regardless; read and drop it.
                pendingChunkReply = refusal
                framer.beginChunk(size: size, last: last, maxMessageSize: policy.maxMessageSize, discard: true)
            } else {
                transactionUsesChunking = true
                framer.beginChunk(size: size, last: last, maxMessageSize: policy.maxMessageSize, discard: false)
            }
            return nextAction()

        case .rset:
            framer.abortMessage()
            return .resetSession(SMTPServerReplies.ok, abortedTransaction: takeTransaction())

        case .noop:
            return .send(SMTPServerReplies.ok)

        case .quit:
            return close(SMTPServerReplies.closing(hostname: configuration.hostname), reason: "QUIT")

        case .vrfy:
            return .send(SMTPServerReplies.vrfy)

        case .help:
            return .send(SMTPServerReplies.help)

        case .startTLS:
            if isTLS { return badCommand(SMTPServerReplies.alreadyTLS) }
            guard offersSTARTTLS else { return .send(SMTPServerReplies.tlsNotAvailable) }
            if transaction != nil { return badCommand(SMTPServerReplies.transactionInProgress) }
            // RFC 3207 §4.2 / CVE-2011-0411: nothing sent before TLS may be read as a command.
            framer.discardBufferedBytes()
            state = .startingTLS
            return .startTLS(SMTPServerReplies.readyToStartTLS)

        case .extended(let verb, let argument):
            state = .awaitingExtensionAnswer
            return .askExtension(verb: verb, argument: argument, transaction: transaction)

        case .unknown(let verb):
            return badCommand(SMTPServerReplies.unknownCommand(verb))
        }
    }

    private mutating func finishMessage(_ outcome: SMTPMessageDataOutcome) -> Action {
        guard let open = takeTransaction() else { return .send(SMTPServerReplies.needMail) }
        switch outcome {
        case .complete(let body):
            messageCount += 1
            state = .awaitingMessageAnswer
            return .askMessage(open, body)
        case .rejected(let error):
            return .sendAndAbortTransaction(error.reply, open)
        }
    }

    private mutating func takeTransaction() -> SMTPTransaction? {
        let open = transaction
        transaction = nil
        transactionUsesChunking = false
        framer.abortMessage()
        return open
    }

    private mutating func badCommand(_ reply: SMTPReply) -> Action {
        badCommandCount += 1
        if badCommandCount > configuration.maxBadCommands {
            return close(SMTPServerReplies.tooManyErrors, reason: "too many errors")
        }
        return .send(reply)
    }

    private mutating func close(_ reply: SMTPReply?, reason: String) -> Action {
        let open = takeTransaction()
        state = .closed
        framer.discardBufferedBytes()
        framer.abortMessage()
        return .close(reply, reason: reason, abortedTransaction: open)
    }
}
