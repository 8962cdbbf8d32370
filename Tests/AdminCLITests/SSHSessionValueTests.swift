import Foundation
import Testing
@testable import AdminCLI

/// The pure pieces of the SSH server: splitting a command line, line editing, the
/// interactive session's decisions.
@Suite struct SSHSessionValueTests {
    @Test("command lines split like a shell would, without running one")
    func words() throws {
        #expect(try CommandLineWords.split("status") == ["status"])
        #expect(try CommandLineWords.split("  showrecipients   --host the.cpq.host ") == ["showrecipients", "--host", "the.cpq.host"])
        #expect(try CommandLineWords.split(#"echo "two words" 'it''s' a\ b "q\"uote" ''"#)
            == ["echo", "two words", "its", "a b", "q\"uote", ""])
        #expect(try CommandLineWords.split(#"echo 'no $expansion; `here`'"#) == ["echo", "no $expansion; `here`"])
        #expect(try CommandLineWords.split("") == [])
        #expect(throws: CommandLineWords.SplitError.self) { try CommandLineWords.split("echo \"open") }
        #expect(throws: CommandLineWords.SplitError.self) { try CommandLineWords.split("echo 'open") }
        #expect(throws: CommandLineWords.SplitError.self) { try CommandLineWords.split("echo \\") }
    }

    private func lines(_ events: [LineEditor.Event]) -> [String] {
        events.compactMap { (event: LineEditor.Event) -> String? in
            if case .line(let line) = event { return line }
            return nil
        }
    }

    private func echoed(_ events: [LineEditor.Event]) -> [UInt8] {
        events.flatMap { (event: LineEditor.Event) -> [UInt8] in
            if case .echo(let bytes) = event { return bytes }
            return []
        }
    }

    @Test("typing, backspace, ^U, ^C, ^D and line ends")
    func editing() {
        var editor = LineEditor(prompt: "> ")
        var events = editor.feed(Array("statux\u{7f}s\r".utf8))
        #expect(lines(events) == ["status"])
        #expect(echoed(events) == Array("statux".utf8) + [8, 32, 8] + Array("s\r\n".utf8))
        // CR LF is one line end; LF alone is one too.
        events = editor.feed(Array("a\r\nb\n".utf8))
        #expect(lines(events) == ["a", "b"])
        events = editor.feed(Array("junk\u{15}help\r".utf8))
        #expect(lines(events) == ["help"])
        events = editor.feed(Array("half\u{3}".utf8))
        #expect(events.last == .interrupt && lines(events).isEmpty)
        events = editor.feed([0x04])
        #expect(events == [.endOfInput])
        // ^D with text on the line does nothing.
        events = editor.feed(Array("x".utf8) + [0x04])
        #expect(!events.contains(.endOfInput))
        // Backspace removes a whole UTF-8 character.
        events = editor.feed(Array("\u{7f}é\u{7f}ü\r".utf8))
        #expect(lines(events) == ["ü"])
        // Other control characters and unknown escape sequences are ignored.
        events = editor.feed([0x01, 0x1b, 0x5b, 0x43, 0x09] + Array("ok\r".utf8))
        #expect(lines(events) == ["ok"])
    }

    @Test("up and down arrows walk the history; lines over the limit ring the bell")
    func historyAndLimit() {
        var editor = LineEditor(prompt: "> ", maximumLineBytes: 4)
        _ = editor.feed(Array("one\rtwo\r".utf8))
        var events = editor.feed(Array("\u{1b}[A".utf8))
        #expect(editor.buffer == Array("two".utf8))
        #expect(echoed(events).suffix(5) == Array("> two".utf8)[...])
        events = editor.feed(Array("\u{1b}[A\u{1b}[A".utf8))
        #expect(editor.buffer == Array("one".utf8))
        events = editor.feed(Array("\u{1b}[B\u{1b}[B".utf8))
        #expect(editor.buffer.isEmpty)
        events = editor.feed(Array("abcdef".utf8))
        #expect(editor.buffer == Array("abcd".utf8))
        #expect(echoed(events).filter { $0 == 7 }.count == 2)
    }

    @Test("the shell: prompt, a command, type-ahead, a confirmation answered y, exit")
    func shell() {
        var session = SSHShellSession(roleName: "gateway")
        let start = session.start(user: "alice", role: .admin)
        #expect(start.count == 1)
        guard case .write(let greeting) = start[0] else { Issue.record("no greeting"); return }
        #expect(String(decoding: greeting, as: UTF8.self).hasSuffix("\r\nlazaret gateway> "))
        // Two lines at once: the first runs, the second waits.
        var actions = session.receive(Array("deleterecipients --all\ny\nexit\n".utf8))
        #expect(actions.contains(.run(["deleterecipients", "--all"], line: "deleterecipients --all")))
        #expect(session.state == .running)
        actions = session.confirmationAsked("Delete all?")
        #expect(actions.first == .write(Array("Delete all? [y/N] ".utf8)))
        #expect(actions.contains(.answer(true)))
        actions = session.commandFinished(.success("deleted 3\nrecipients"))
        #expect(actions.first == .write(Array("deleted 3\r\nrecipients\r\nlazaret gateway> ".utf8)))
        #expect(actions.last == .end)
        #expect(session.state == .ended)
    }

    @Test("the shell: errors are marked, n and ^C refuse, EOF ends it, blank lines re-prompt")
    func shellRefusals() {
        var session = SSHShellSession(roleName: "manager")
        _ = session.start(user: "bob", role: .operator)
        #expect(session.receive(Array("\r".utf8)).last == .write(Array("lazaret manager> ".utf8)))
        let unclosed = session.receive(Array("echo 'open\r".utf8)).contains { (action: SSHShellSession.Action) -> Bool in
            if case .write(let bytes) = action { return String(decoding: bytes, as: UTF8.self).contains("unclosed") }
            return false
        }
        #expect(unclosed)
        _ = session.receive(Array("purge\r".utf8))
        #expect(session.confirmationAsked("Sure?").contains(.write(Array("Sure? [y/N] ".utf8))))
        #expect(session.receive(Array("n\r".utf8)).last == .answer(false))
        var actions = session.commandFinished(.failure("not confirmed"))
        #expect(actions == [.write(Array("error: not confirmed\r\nlazaret manager> ".utf8))])
        _ = session.receive(Array("purge\r".utf8))
        _ = session.confirmationAsked("Sure?")
        #expect(session.receive([0x03]).contains(.answer(false)))
        _ = session.commandFinished(.failure("not confirmed"))
        actions = session.inputClosed()
        #expect(actions == [.end])
    }

    @Test("EOF while a command runs: it finishes, then the session ends; a question gets no")
    func eofWhileRunning() {
        var session = SSHShellSession(roleName: "gateway")
        _ = session.start(user: "alice", role: .admin)
        _ = session.receive(Array("purge\n".utf8))
        #expect(session.inputClosed().isEmpty)
        #expect(session.confirmationAsked("Sure?").contains(.answer(false)))
        #expect(session.commandFinished(.failure("not confirmed")).last == .end)
    }
}
