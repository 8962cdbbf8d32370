import NIOCore
import NIOPosix
import Scanning
import SMTPProtocol
import Testing
@testable import CPQ

/// Seeded fuzzing: mutated and random `XCPQ` arguments into the parser,
/// random event sequences into the session, random command lines into a
/// real listener. Nothing may crash, every answer must be a well-formed reply.
@Suite struct CPQFuzzTests {
    static let seeds: [UInt64] = [7, 42, 1_000_003, 0xDEAD_BEEF]

    static let corpus = [
        "TRANSFER t-gw1-482-1 GATEWAY=gw1 MID=482 ICID=77 RECEIVED=1795426153",
        "HOLD Policy STAGE=message-filters RESUME=antivirus KIND=message-filter DETAIL=block_exe",
        "HOLD Virus STAGE=antivirus RESUME=content-filters KIND=antivirus DETAIL=Eicar-Test-Signature",
        "HOLD Outbreak STAGE=outbreak RESUME=outbreak KIND=outbreak DETAIL=OUTB-17+20x LEVEL=4 RETENTION=86400 COPY",
        "RELEASE r-6f1c0d2e MID=482 QID=Q7KD2M4XH1 RESUME=content-filters QUARANTINES=Policy,Virus",
        "REPORT r-6f1c0d2e RCPT=bob@rcpt.example STATUS=delivered REPLY=250+202.0.0+20Ok",
        "JOIN gw1 PROOF=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef LISTENER=10.10.20.1:7025",
    ]
    static let fragments = [
        "=", "+", "+2", "+20", "+ZZ", " ", "  ", ",", "COPY", "LEVEL=", "MID=", "X=Y", "\u{E9}", "\u{0}", "\t", "\u{1F600}",
        "TRANSFER", "HOLD", "RELEASE", "REPORT", "JOIN", "PROOF=", "LISTENER=+20", "QUARANTINES=,", "DETAIL=+FF", "STAGE=delivery", "99999999999999999999",
    ]

    /// One mutation of `line`.
    static func mutate(_ line: String, _ rng: inout CPQSeededGenerator) -> String {
        var bytes = Array(line.utf8)
        switch Int.random(in: 0..<8, using: &rng) {
        case 0 where !bytes.isEmpty:
            bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
        case 1 where !bytes.isEmpty:
            let start = Int.random(in: 0..<bytes.count, using: &rng)
            bytes.removeSubrange(start..<min(bytes.count, start + Int.random(in: 1...12, using: &rng)))
        case 2:
            let at = Int.random(in: 0...bytes.count, using: &rng)
            bytes.insert(contentsOf: Array(fragments.randomElement(using: &rng)!.utf8), at: at)
        case 3:
            var words = line.split(separator: " ").map(String.init)
            if words.count > 1 { words.swapAt(Int.random(in: 0..<words.count, using: &rng), Int.random(in: 0..<words.count, using: &rng)) }
            return words.joined(separator: " ")
        case 4:
            var words = line.split(separator: " ").map(String.init)
            if let word = words.randomElement(using: &rng) { words.append(word) }
            return words.joined(separator: " ")
        case 5:
            bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng)))
        case 6:
            return Bool.random(using: &rng) ? line.lowercased() : line.uppercased()
        default:
            bytes = (0..<Int.random(in: 0...80, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func fuzzedLine(_ rng: inout CPQSeededGenerator) -> String {
        var line = corpus.randomElement(using: &rng)!
        for _ in 0..<Int.random(in: 0...3, using: &rng) { line = mutate(line, &rng) }
        return line
    }

    @Test(arguments: seeds)
    func parserNeverCrashesAndAnswersWithTheTable(seed: UInt64) throws {
        var rng = CPQSeededGenerator(seed: seed)
        var parsed = 0
        for iteration in 0..<3000 {
            let line = Self.fuzzedLine(&rng)
            do {
                let command = try CPQCommandParser.parse(argument: line)
                parsed += 1
                // Whatever parses encodes to a line that parses to the same value.
                #expect(try CPQCommandParser.parse(argument: CPQCommandEncoder.argument(for: command)) == command,
                        "seed \(seed) iteration \(iteration): \(line.debugDescription)")
            } catch {
                #expect([501, 504, 555].contains(error.reply.code), "seed \(seed) iteration \(iteration): \(line.debugDescription)")
                #expect(isWellFormed(error.reply), "seed \(seed) iteration \(iteration): \(error.reply)")
            }
        }
        #expect(parsed > 100, "the mutations keep some lines valid")
    }

    /// Random event sequences into a session, with a model of the SMTP
    /// layer around it (MAIL opens a transaction only when answered 2xx).
    @Test(arguments: seeds)
    func sessionSequencesAlwaysAnswer(seed: UInt64) {
        var rng = CPQSeededGenerator(seed: seed)
        for role in [CPQServerSession.Role.manager, .gateway] {
            var session = CPQServerSession(configuration: .init(role: role))
            var transactionOpen = false
            var stored = 0
            for iteration in 0..<4000 {
                let context = "seed \(seed) \(role) iteration \(iteration)"
                var replies: [SMTPReply] = []
                switch Int.random(in: 0..<100, using: &rng) {
                case 0..<55:
                    let line = Int.random(in: 0..<3, using: &rng) == 0 ? Self.fuzzedLine(&rng) : Self.corpus.randomElement(using: &rng)!
                    switch session.command(argument: line) {
                    case .reply(let reply):
                        replies.append(reply)
                    case .authorizeTransfer:
                        replies.append(session.transferAuthorized(Bool.random(using: &rng) ? .granted : .denied(certificateName: "gw9")))
                    case .authorizeRelease:
                        replies.append(session.releaseAuthorized(Bool.random(using: &rng) ? .granted : .denied(certificateName: nil)))
                    case .recordReport:
                        replies.append(CPQServerSession.reportRecorded(.success(())))
                    case .join(let request):
                        replies.append(CPQServerSession.joined(request, Bool.random(using: &rng)
                            ? .success(CPQJoinAnswer(bundle: "cpq-join-v1:x", proof: String(repeating: "0", count: 64)))
                            : .failure(CPQProtocolError(CPQReplies.joinRefused("no token matches")))))
                    case .storeTransfer, .acceptRelease:
                        Issue.record("\(context): a command yielded a message")
                    }
                case 55..<70:
                    guard !transactionOpen else { continue }
                    let reply = session.mailFrom()
                    if reply.isPositiveCompletion { transactionOpen = true }
                    replies.append(reply)
                case 70..<78:
                    guard transactionOpen else { continue }
                    replies.append(session.rcptTo())
                case 78..<88:
                    guard transactionOpen else { continue }
                    transactionOpen = false
                    let envelope = SMTPTransaction(mailFrom: "a@b.example", recipients: ["c@d.example"], heloName: "h")
                    switch session.messageReceived(envelope, body: ByteBuffer(string: "x\r\n")) {
                    case .storeTransfer(let transfer):
                        #expect(role == .manager, "\(context)")
                        #expect((1...CPQDefaults.maxHolds).contains(transfer.holds.count), "\(context)")
                        #expect(Set(transfer.holds.map { $0.quarantine.lowercased() }).count == transfer.holds.count, "\(context)")
                        stored += 1
                        replies.append(CPQServerSession.transferStored(transfer.header, .success(CPQStoredTransfer(qid: "Q\(stored)"))))
                    case .acceptRelease(let release):
                        #expect(role == .gateway, "\(context)")
                        stored += 1
                        replies.append(CPQServerSession.releaseQueued(release.header, .success(CPQQueuedRelease(mid: UInt64(stored)))))
                    case .reply(let reply):
                        Issue.record("\(context): an accepted MAIL ended in \(reply)")
                    default:
                        Issue.record("\(context): unexpected action")
                    }
                    #expect(session.openTransfer == nil && session.openRelease == nil, "\(context)")
                case 88..<94:
                    if transactionOpen { session.transactionAborted() }
                    transactionOpen = false
                    session.reset()
                case 94..<97:
                    if transactionOpen { session.transactionAborted() }
                    transactionOpen = false
                default:
                    // Mostly with a certificate; without one a manager's session may only JOIN.
                    if !transactionOpen {
                        session.tlsEstablished(peer: Int.random(in: 0..<4, using: &rng) == 0 ? nil : CPQServerSessionTests.peer)
                    }
                }
                for reply in replies {
                    #expect(isWellFormed(reply), "\(context): \(reply)")
                }
                #expect(session.holds.count <= CPQDefaults.maxHolds, "\(context)")
            }
            #expect(stored > 0, "seed \(seed) \(role): some sequences reach the end of DATA")
        }
    }

    /// Random lines (XCPQ and SMTP) into a real listener with the adapter:
    /// every line gets a well-formed reply; a client closed for too many
    /// errors reconnects; at the end a proper transfer still works.
    @Test(.timeLimit(.minutes(2)), arguments: [UInt64(99), 2026])
    func listenerAnswersEveryLine(seed: UInt64) async throws {
        var rng = CPQSeededGenerator(seed: seed)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let manager = FakeManagerBackend()
        let cpq = CPQServerConfiguration(requireTLS: false)
        let smtp = cpq.smtpConfiguration(SMTPServerConfiguration(listenerName: "cpq_listener", hostname: "manager.test"))
        let listener = try await SMTPServer.bind(host: "127.0.0.1", port: 0, group: group, configuration: smtp) {
            CPQServerDelegate(backend: .manager(manager), configuration: cpq)
        }.get()
        let port = try #require(listener.localAddress?.port)
        let options = SMTPClientOptions(localHostname: "gw1.test")
        var connection = try await SMTPClientConnection.connect(host: "127.0.0.1", port: port, group: group, options: options)
        let smtpLines = ["MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>", "RSET", "NOOP", "HELO gw1", "VRFY x", "FOO bar", "XCPQ"]
        var reconnects = 0
        for iteration in 0..<400 {
            var line = Int.random(in: 0..<4, using: &rng) == 0 ? smtpLines.randomElement(using: &rng)! : "XCPQ " + Self.fuzzedLine(&rng)
            line = String(line.unicodeScalars.filter { $0 != "\r" && $0 != "\n" })
            let reply: SMTPReply
            do {
                reply = try await connection.send(command: line)
            } catch {
                // Closed after too many errors (421 first): start again.
                reconnects += 1
                connection = try await SMTPClientConnection.connect(host: "127.0.0.1", port: port, group: group, options: options)
                continue
            }
            #expect((200..<600).contains(reply.code), "seed \(seed) iteration \(iteration): \(line.debugDescription) → \(reply)")
            if !line.hasPrefix("HELO") {
                #expect(reply.enhanced != nil && reply.lines.count == 1, "seed \(seed) iteration \(iteration): \(line.debugDescription) → \(reply)")
            }
        }
        #expect(reconnects < 400)
        await connection.quit()
        let final = try await SMTPClientConnection.connect(host: "127.0.0.1", port: port, group: group, options: options)
        let outcome = await CPQClient.transfer(
            over: final, header: CPQTransferHeader(transferID: "t-final", gateway: "gw1", mid: 1, icid: 1, received: 1),
            tickets: [QuarantineTicket(quarantine: "Virus", reason: QuarantineReason(kind: .antivirus, detail: "EICAR"), stage: .antivirus)],
            mailFrom: "a@b.example", recipients: ["c@d.example"], body: ByteBuffer(string: "x\r\n"))
        guard case .accepted = outcome else {
            Issue.record("the listener no longer works: \(outcome)")
            return
        }
        await final.quit()
        try await listener.close()
        try await group.shutdownGracefully()
    }
}
