import NIOCore

/// What the next hop said about one recipient of a transaction.
public enum SMTPRecipientResult: Sendable, Hashable {
    /// The final reply to DATA was 2xx for an accepted recipient.
    case delivered(SMTPReply)
    /// 4xx at MAIL, RCPT or DATA, or the connection broke: try again later.
    case deferred(SMTPReply)
    /// 5xx at MAIL, RCPT or DATA: never try again, bounce to the sender.
    case failed(SMTPReply)

    public var reply: SMTPReply {
        switch self {
        case .delivered(let r), .deferred(let r), .failed(let r): r
        }
    }
}

/// One mail transaction as the client runs it (RFC 5321 §3.3), a pure state
/// machine: it says which commands to send, takes the replies in order, and
/// ends with a result per recipient. With PIPELINING (RFC 2920) MAIL, every
/// RCPT and DATA go out in one write and the replies are matched in order.
public struct SMTPClientTransaction: Sendable {
    public enum State: Sendable, Hashable {
        /// Waiting for the replies to the extension commands sent before MAIL
        /// (``preamble``); every one must be 2xx.
        case preamble
        /// Waiting for the replies to MAIL, RCPT... and DATA (`pending` left).
        case envelope
        /// 354 received: the body must be sent now.
        case sendingBody
        /// Waiting for the final reply after the body.
        case awaitingFinalReply
        /// The server answered 354 although the envelope failed: an empty
        /// message (`.` CRLF alone) was sent to end DATA; waiting for its reply.
        case abortingData
        /// Finished; `results` holds one entry per recipient.
        case done
    }

    public let mailFrom: String
    public let recipients: [String]
    public let pipelining: Bool
    /// Extension command lines (without CRLF) sent before MAIL, such as
    /// `XCPQ TRANSFER ...`; the envelope is sent only when each got a 2xx.
    public let preamble: [String]
    public private(set) var state: State
    public private(set) var results: [SMTPRecipientResult?]

    private var mailReply: SMTPReply?
    private var rcptReplies: [SMTPReply] = []
    private var preambleReplyCount = 0
    /// Whether the RSET command should follow before another transaction on this connection.
    public private(set) var needsReset = false

    public init(mailFrom: String, recipients: [String], parameters: [String] = [], preamble: [String] = [], pipelining: Bool) {
        self.mailFrom = mailFrom
        self.recipients = recipients
        self.pipelining = pipelining
        self.parameters = parameters
        self.preamble = preamble
        self.state = preamble.isEmpty ? .envelope : .preamble
        self.results = Array(repeating: nil, count: recipients.count)
    }

    private let parameters: [String]

    /// The preamble commands, each with CRLF. With PIPELINING they go out in
    /// one write, and the envelope only after all their replies: a refused
    /// preamble line must never be followed by a message.
    public var preambleCommands: [String] {
        preamble.map { $0 + "\r\n" }
    }

    /// The envelope commands, each with CRLF, in the order their replies come back.
    public var envelopeCommands: [String] {
        var commands = ["MAIL FROM:<\(mailFrom)>" + parameters.map { " " + $0 }.joined() + "\r\n"]
        for recipient in recipients { commands.append("RCPT TO:<\(recipient)>\r\n") }
        commands.append("DATA\r\n")
        return commands
    }

    public enum Action: Sendable, Hashable {
        /// Keep reading replies.
        case awaitMoreReplies
        /// Send the (dot-stuffed) body followed by `.` CRLF.
        case sendBody
        /// The server answered 354 but no recipient was accepted (or MAIL
        /// failed) in a pipelined envelope (RFC 2920 §3.1): send `.` CRLF
        /// alone, feed its reply, then RSET. Every recipient keeps the result
        /// of its own refusal; nothing is delivered.
        case abortData
        /// The transaction is over; read `results`.
        case finished
    }

    /// Feeds the next reply, in order: MAIL, each RCPT, DATA, and after the body the final reply.
    ///
    /// Without PIPELINING the commands go out one at a time and the machine
    /// ends the transaction as soon as it is hopeless: after a refused MAIL,
    /// and after the last RCPT when none was accepted, it returns `finished`
    /// (so DATA is never sent). With PIPELINING every reply of the batch must
    /// still be read, so it waits for the reply to DATA.
    ///
    /// Preamble replies come first: one that is not 2xx ends the transaction
    /// (`finished`, every recipient failed or deferred with it, RSET needed);
    /// after the last 2xx the state is ``State/envelope`` and the envelope
    /// commands go out next.
    public mutating func receive(_ reply: SMTPReply) -> Action {
        switch state {
        case .preamble:
            guard reply.isPositiveCompletion else {
                for index in results.indices { results[index] = Self.classify(reply, success: .deferred(reply)) }
                needsReset = true
                state = .done
                return .finished
            }
            preambleReplyCount += 1
            if preambleReplyCount == preamble.count { state = .envelope }
            return .awaitMoreReplies
        case .envelope:
            if mailReply == nil {
                mailReply = reply
                if !pipelining, !reply.isPositiveCompletion { return finishWithoutBody() }
                return .awaitMoreReplies
            }
            if rcptReplies.count < recipients.count {
                rcptReplies.append(reply)
                if !pipelining, rcptReplies.count == recipients.count, !rcptReplies.contains(where: \.isPositiveCompletion) {
                    return finishWithoutBody()
                }
                return .awaitMoreReplies
            }
            return dataReply(reply)
        case .abortingData:
            state = .done
            return .finished
        case .awaitingFinalReply:
            for index in results.indices where results[index] == nil {
                results[index] = Self.classify(reply, success: .delivered(reply))
            }
            if !reply.isPositiveCompletion { needsReset = true }
            state = .done
            return .finished
        case .sendingBody, .done:
            return .finished
        }
    }

    /// The body was written; the next reply is the final one.
    public mutating func bodySent() {
        if state == .sendingBody { state = .awaitingFinalReply }
    }

    /// The connection broke or timed out: every open recipient is deferred with this reply.
    public mutating func connectionFailed(_ reply: SMTPReply) {
        for index in results.indices where results[index] == nil { results[index] = .deferred(reply) }
        state = .done
    }

    /// Records the refusals of MAIL or of every RCPT; the transaction carries no message.
    private mutating func finishWithoutBody() -> Action {
        _ = classifyEnvelope()
        needsReset = true
        state = .done
        return .finished
    }

    /// Fills `results` for what the envelope refused; returns whether any recipient was accepted.
    private mutating func classifyEnvelope() -> Bool {
        guard let mailReply else { return false }
        if !mailReply.isPositiveCompletion {
            for index in results.indices { results[index] = Self.classify(mailReply, success: .deferred(mailReply)) }
            return false
        }
        var anyAccepted = false
        for (index, rcpt) in rcptReplies.enumerated() {
            if rcpt.isPositiveCompletion { anyAccepted = true } else { results[index] = Self.classify(rcpt, success: .deferred(rcpt)) }
        }
        return anyAccepted
    }

    private mutating func dataReply(_ reply: SMTPReply) -> Action {
        guard classifyEnvelope() else {
            needsReset = true
            if reply.isPositiveIntermediate {
                // RFC 2920 §3.1: the server opened DATA for nobody; end it with an empty message.
                state = .abortingData
                return .abortData
            }
            state = .done
            return .finished
        }
        if reply.isPositiveIntermediate {
            state = .sendingBody
            return .sendBody
        }
        for index in results.indices where results[index] == nil {
            results[index] = Self.classify(reply, success: .deferred(reply))
        }
        needsReset = true
        state = .done
        return .finished
    }

    private static func classify(_ reply: SMTPReply, success: SMTPRecipientResult) -> SMTPRecipientResult {
        if reply.isPositiveCompletion { return success }
        if reply.isPermanentFailure { return .failed(reply) }
        return .deferred(reply)
    }

    /// Appends `body` to `out` dot-stuffed (RFC 5321 §4.5.2), ending with CRLF `.` CRLF.
    /// The body should use CRLF line ends; a lone LF is written as CRLF (a
    /// strict next hop refuses bare LF, RFC 5321 §2.3.8), and a missing final
    /// CRLF is added.
    public static func writeDotStuffed(_ body: ByteBuffer, into out: inout ByteBuffer) {
        let cr = UInt8(ascii: "\r")
        let lf = UInt8(ascii: "\n")
        out.reserveCapacity(minimumWritableBytes: body.readableBytes + body.readableBytes / 64 + 5)
        body.withUnsafeReadableBytes { raw in
            var lineStart = 0
            var index = 0
            let count = raw.count
            while index < count {
                if index == lineStart && raw[index] == UInt8(ascii: ".") {
                    out.writeInteger(UInt8(ascii: "."))
                }
                if raw[index] == lf {
                    if index > lineStart && raw[index - 1] == cr {
                        out.writeBytes(UnsafeRawBufferPointer(rebasing: raw[lineStart...index]))
                    } else {
                        out.writeBytes(UnsafeRawBufferPointer(rebasing: raw[lineStart..<index]))
                        out.writeStaticString("\r\n")
                    }
                    lineStart = index + 1
                }
                index += 1
            }
            if lineStart < count {
                // A last line without LF; a CR it ends with becomes the CRLF.
                let end = raw[count - 1] == cr ? count - 1 : count
                out.writeBytes(UnsafeRawBufferPointer(rebasing: raw[lineStart..<end]))
                out.writeStaticString("\r\n")
            }
        }
        out.writeStaticString(".\r\n")
    }
}
