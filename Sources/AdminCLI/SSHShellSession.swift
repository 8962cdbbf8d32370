import Foundation

/// An interactive SSH session (`ssh -p 2222 admin@gateway`) as a value: a greeting and a
/// prompt like `lazaret gateway> `, line editing (`LineEditor`), `exit`/`quit`/^D to leave,
/// and `[y/N]` questions for commands that need a confirmation. The channel handler feeds
/// events in and carries the actions out; it runs the commands.
///
/// What is typed while a command runs waits, and is read when the next prompt or question
/// is shown (type-ahead), so scripted input works as it would in a terminal.
public struct SSHShellSession: Sendable {
    /// What the handler must do.
    public enum Action: Hashable, Sendable {
        /// Send these bytes to the terminal.
        case write([UInt8])
        /// Run this command (the words of the typed line) and call `commandFinished`.
        case run([String], line: String)
        /// The answer to the question of `confirmationAsked`.
        case answer(Bool)
        /// The session is over: exit status 0, close the channel.
        case end
    }

    enum State: Hashable, Sendable { case reading, running, confirming, ended }

    /// Type-ahead kept while a command runs (64 KiB); more is dropped.
    public static let maximumTypeAheadBytes = 64 << 10

    public let prompt: String
    private(set) var state: State = .reading
    private var editor: LineEditor
    private var typeAhead: [UInt8] = []
    private var inputEnded = false

    /// `roleName` names the role in the prompt: `lazaret gateway> `.
    public init(roleName: String) {
        prompt = "lazaret \(roleName)> "
        editor = LineEditor(prompt: prompt)
    }

    /// The greeting and the first prompt.
    public mutating func start(user: String, role: AdminRole) -> [Action] {
        let greeting = "Lazaret admin CLI: \(user) (\(role.rawValue)). Type help for the commands, exit to leave.\n"
        return [.write(Self.terminalText(greeting) + Array(prompt.utf8))]
    }

    /// Bytes typed at the terminal.
    public mutating func receive(_ bytes: [UInt8]) -> [Action] {
        var actions: [Action] = []
        var index = bytes.startIndex
        while index < bytes.endIndex {
            switch state {
            case .ended:
                return actions
            case .running:
                let rest = bytes[index...]
                typeAhead += rest.prefix(max(0, Self.maximumTypeAheadBytes - typeAhead.count))
                return actions
            case .reading, .confirming:
                for event in editor.feed([bytes[index]]) { actions += handle(event) }
                index += 1
            }
        }
        return actions
    }

    /// The client sent EOF (end of its input).
    public mutating func inputClosed() -> [Action] {
        inputEnded = true
        switch state {
        case .reading:
            state = .ended
            return [.end]
        case .confirming:
            return handle(.endOfInput)
        case .running, .ended:
            return []
        }
    }

    /// The command of the last `.run` asks `question` (interactive confirmation).
    public mutating func confirmationAsked(_ question: String) -> [Action] {
        guard state == .running else { return [.answer(false)] }
        state = .confirming
        editor.prompt = "\(question) [y/N] "
        var actions: [Action] = [.write(Array(editor.prompt.utf8))]
        actions += replayTypeAhead()
        if state == .confirming && inputEnded { actions += handle(.endOfInput) }
        return actions
    }

    /// The command of the last `.run` is done: its output, then the next prompt.
    public mutating func commandFinished(_ response: ControlResponse) -> [Action] {
        guard state == .running || state == .confirming else { return [] }
        state = .reading
        editor.prompt = prompt
        var text = response.output
        if !text.isEmpty && !text.hasSuffix("\n") { text += "\n" }
        if !response.ok && !text.isEmpty { text = "error: " + text }
        var actions: [Action] = [.write(Self.terminalText(text) + Array(prompt.utf8))]
        actions += replayTypeAhead()
        if state == .reading && inputEnded {
            state = .ended
            actions.append(.end)
        }
        return actions
    }

    private mutating func replayTypeAhead() -> [Action] {
        let pending = typeAhead
        typeAhead = []
        return receive(pending)
    }

    private mutating func handle(_ event: LineEditor.Event) -> [Action] {
        switch (state, event) {
        case (_, .echo(let bytes)):
            return [.write(bytes)]
        case (.reading, .line(let line)):
            let words: [String]
            do {
                words = try CommandLineWords.split(line)
            } catch {
                return [.write(Self.terminalText("error: \(error)\n") + Array(prompt.utf8))]
            }
            if words.isEmpty { return [.write(Array(prompt.utf8))] }
            if words == ["exit"] || words == ["quit"] || words == ["logout"] {
                state = .ended
                return [.end]
            }
            state = .running
            return [.run(words, line: line)]
        case (.reading, .interrupt):
            return [.write(Array(prompt.utf8))]
        case (.reading, .endOfInput):
            state = .ended
            return [.write(Array("\r\n".utf8)), .end]
        case (.confirming, .line(let line)):
            state = .running
            let answer = line.trimmingCharacters(in: .whitespaces).lowercased()
            return [.answer(answer == "y" || answer == "yes")]
        case (.confirming, .interrupt), (.confirming, .endOfInput):
            state = .running
            return [.write(Array("\r\n".utf8)), .answer(false)]
        case (.running, _), (.ended, _):
            return []
        }
    }

    /// `text` for a terminal: each `\n` becomes `\r\n`.
    public static func terminalText(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count + 16)
        var previous: UInt8 = 0
        for byte in text.utf8 {
            if byte == 0x0a && previous != 0x0d { bytes.append(0x0d) }
            bytes.append(byte)
            previous = byte
        }
        return bytes
    }
}
