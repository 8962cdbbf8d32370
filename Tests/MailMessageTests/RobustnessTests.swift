import Testing
@testable import MailMessage

/// SplitMix64: a small seeded generator so a failing case can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Checks the invariants every parse must keep, whatever the input.
func checkInvariants(_ message: MailMessage, _ context: @autoclosure () -> String) {
    let limits = message.limits
    let parts = message.allParts
    #expect(parts.count <= limits.maxParts, "\(context())")
    #expect(depth(message.root) <= limits.maxNestingDepth, "\(context())")
    #expect(message.leafParts.count <= parts.count)
    #expect(message.headers.count <= limits.maxHeaderFields)
    for part in parts {
        #expect(part.decodedSize == part.decodedBody.count, "\(context())")
        #expect(part.headers.count <= limits.maxHeaderFields)
        #expect(Set(part.defects).isSubset(of: Set(message.defects)), "\(context())")
    }
    #expect(message.defects.count == Set(message.defects).count)
    #expect(message.urls.count <= limits.maxURLs)
    _ = message.textBodies
    _ = message.isEncrypted
    _ = message.attachments.map(\.filename)
}

@Suite struct RobustnessTests {
    enum Mutation: CaseIterable {
        case truncate, flipBytes, spliceBoundary, duplicateRange, deleteRange, insertHeaderJunk, swapLineEnds
    }

    static let splices: [String] = [
        "\r\n--------------outer0123\r\n", "\r\n--------------alt4567--\r\n", "\r\n--fwd\r\n", "\r\n--inner--",
        "\r\n--XYZ\r\nContent-Type: multipart/mixed; boundary=XYZ\r\n\r\n", "\r\n--b1\r\n\r\n",
        "\r\nContent-Type: message/rfc822\r\n\r\n", "=?utf-8?B?", "?=", "\r\n\r\n", "\r\n ",
        "Content-Transfer-Encoding: base64\r\n", "; boundary=\"", "filename*0*=utf-8''%", "\r\n--",
    ]

    static func mutate(_ input: [UInt8], using rng: inout SeededGenerator) -> [UInt8] {
        var bytes = input
        let rounds = Int.random(in: 1...4, using: &rng)
        for _ in 0..<rounds where !bytes.isEmpty {
            let at = Int.random(in: 0..<bytes.count, using: &rng)
            switch Mutation.allCases.randomElement(using: &rng)! {
            case .truncate:
                bytes.removeSubrange(at...)
            case .flipBytes:
                for _ in 0..<Int.random(in: 1...16, using: &rng) {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            case .spliceBoundary:
                bytes.insert(contentsOf: Array(splices.randomElement(using: &rng)!.utf8), at: at)
            case .duplicateRange:
                let end = min(bytes.count, at + Int.random(in: 1...2000, using: &rng))
                bytes.insert(contentsOf: bytes[at..<end], at: Int.random(in: 0...bytes.count, using: &rng))
            case .deleteRange:
                bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...200, using: &rng)))
            case .insertHeaderJunk:
                bytes.insert(contentsOf: (0..<Int.random(in: 1...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: at)
            case .swapLineEnds:
                bytes = bytes.filter { $0 != 0x0D || Bool.random(using: &rng) }
            }
        }
        return bytes
    }

    /// 2000 seeded mutations of the fixtures: no crash, invariants hold, parsing
    /// terminates (the time limit fails the test if it does not).
    @Test(.timeLimit(.minutes(5)))
    func fuzzMutationsOfRealMessages() throws {
        var rng = SeededGenerator(seed: 0x4C41_5A41_5245_54)
        let corpus = Fixtures.all.map { $0.bytes() }
        let limits = MailMessage.Limits(maxNestingDepth: 8, maxParts: 40, maxURLs: 20)
        var sawDefect = 0
        for iteration in 0..<2000 {
            let seedMessage = corpus[iteration % corpus.count]
            let input = Self.mutate(seedMessage, using: &rng)
            let message = MailMessage(parsing: input, limits: iteration % 2 == 0 ? limits : .init())
            checkInvariants(message, "iteration \(iteration)")
            if !message.defects.isEmpty { sawDefect += 1 }

            // The rewriter keeps the body and its inserted field comes first.
            if !input.starts(with: Array("From ".utf8)) {
                let out = try HeaderRewriter.rewrite(input, inserting: [("X-Fuzz", "\(iteration)")], stripping: ["received", "subject"])
                let reparsed = MailMessage(parsing: out, limits: .init(maxHeaderFields: 5000))
                #expect(reparsed.headers.fields.first?.name == "X-Fuzz", "iteration \(iteration)")
                #expect(reparsed.headers.fields.first?.value == "\(iteration)", "iteration \(iteration)")
                #expect(reparsed.headers.values("subject").isEmpty, "iteration \(iteration)")
                #expect(reparsed.root.rawBody == MailMessage(parsing: input, limits: .init(maxHeaderFields: 5000)).root.rawBody,
                        "iteration \(iteration)")
            }
        }
        // The mutations do break messages: a fuzzer that never finds a defect tests nothing.
        #expect(sawDefect > 200)
    }

    enum Hostile: String, CaseIterable, CustomStringConvertible {
        case tenMegabyteHeaderLine, tenMegabyteBodyLine, hundredThousandTinyParts, deepMultipartNesting,
             deepMessageNesting, boundaryNeverClosed, manyEncodedWordStarts, manyHeaderFields, base64Garbage,
             boundaryPrefixLines, manyParameters, nestedUnclosedBoundaries

        var description: String { rawValue }

        var input: [UInt8] {
            switch self {
            case .tenMegabyteHeaderLine:
                return Array("Subject: ".utf8) + [UInt8](repeating: 0x61, count: 10 << 20)
            case .tenMegabyteBodyLine:
                return Array("Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n\r\n".utf8) + [UInt8](repeating: 0x2D, count: 10 << 20)
            case .hundredThousandTinyParts:
                return Array(("Content-Type: multipart/mixed; boundary=t\r\n\r\n" + String(repeating: "--t\r\n\r\nx\r\n", count: 100_000)).utf8)
            case .deepMultipartNesting:
                return Array((0..<10_000).map { "Content-Type: multipart/mixed; boundary=d\($0)\r\n\r\n--d\($0)\r\n" }.joined().utf8)
            case .deepMessageNesting:
                return Array(String(repeating: "Content-Type: message/rfc822\r\n\r\n", count: 10_000).utf8)
            case .boundaryNeverClosed:
                return Array(("Content-Type: multipart/mixed; boundary=n\r\n\r\n--n\r\n\r\n" + String(repeating: "line of text without delimiter\r\n", count: 60_000)).utf8)
            case .manyEncodedWordStarts:
                return Array(("Subject: " + String(repeating: "=?a?q?=?", count: 100_000) + "\r\n\r\n").utf8)
            case .manyHeaderFields:
                return Array((String(repeating: "X: y\r\n", count: 200_000) + "\r\nbody").utf8)
            case .base64Garbage:
                return Array("Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n".utf8)
                    + (0..<(2 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            case .boundaryPrefixLines:
                return Array(("Content-Type: multipart/mixed; boundary=" + String(repeating: "b", count: 500) + "\r\n\r\n"
                    + String(repeating: "--" + String(repeating: "b", count: 499) + "\r\n", count: 4000)).utf8)
            case .manyParameters:
                return Array(("Content-Type: text/plain" + String(repeating: "; p*1*=x", count: 50_000) + "\r\n\r\nx").utf8)
            case .nestedUnclosedBoundaries:
                return Array((0..<19).map { "Content-Type: multipart/mixed; boundary=u\($0)\r\n\r\n--u\($0)\r\n" }.joined().utf8)
                    + Array(String(repeating: "--u0\r\n--u1\r\n--u2\r\nx\r\n", count: 20_000).utf8)
            }
        }
    }

    @Test(.timeLimit(.minutes(5)), arguments: Hostile.allCases)
    func hostileInputTerminatesWithinBounds(_ hostile: Hostile) {
        let message = MailMessage(parsing: hostile.input)
        checkInvariants(message, hostile.description)
        switch hostile {
        case .tenMegabyteHeaderLine:
            #expect(message.defects.contains(.headerTooLong))
            #expect(message.headers.isEmpty)
        case .tenMegabyteBodyLine:
            #expect(message.root.children.count == 1)
            #expect(message.root.children[0].rawBody.count == 10 << 20)
        case .hundredThousandTinyParts:
            #expect(message.defects.contains(.tooManyParts))
            #expect(message.allParts.count == message.limits.maxParts)
        case .deepMultipartNesting, .deepMessageNesting:
            #expect(message.defects.contains(.nestingTooDeep))
            #expect(depth(message.root) == message.limits.maxNestingDepth)
        case .boundaryNeverClosed:
            #expect(message.defects == [.missingClosingBoundary])
            #expect(message.root.children.count == 1)
        case .manyEncodedWordStarts:
            #expect(message.subject != nil)
        case .manyHeaderFields:
            #expect(message.defects.contains(.tooManyHeaderFields))
            #expect(message.headers.count == message.limits.maxHeaderFields)
            #expect(message.textBodies == ["body"])
        case .base64Garbage:
            #expect(message.defects == [.badEncoding])
        case .boundaryPrefixLines:
            #expect(message.defects.contains(.boundaryNotFound))
        case .manyParameters:
            #expect(message.root.contentType.parameters.count == 1)
        case .nestedUnclosedBoundaries:
            #expect(message.defects.contains(.tooManyParts))
        }
    }
}
