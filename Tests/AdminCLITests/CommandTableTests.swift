import Testing
@testable import AdminCLI

@Suite struct CommandTableTests {
    let table = CommandTable([
        ControlCommand(["quarantine", "list"], arguments: "[--limit N]", summary: "list them") { .success("list " + $0.joined(separator: " ")) },
        ControlCommand(["quarantine", "show"], arguments: "QID", summary: "show one") { .success("show " + $0.joined(separator: " ")) },
        ControlCommand(["status"], summary: "how it is") { _ in .success("online") },
    ])

    @Test func runsTheCommandWithTheRestOfTheArguments() async {
        #expect(await table.handle(["quarantine", "list", "--limit", "5"]) == .success("list --limit 5"))
        #expect(await table.handle(["quarantine", "show", "QX"]) == .success("show QX"))
        #expect(await table.handle(["status"]) == .success("online"))
    }

    @Test func helpListsEveryCommandOrThoseStartingWithTheWords() async {
        let all = await table.handle(["help"])
        #expect(all.ok)
        #expect(all.output.contains("quarantine list [--limit N]\n      list them"))
        #expect(all.output.contains("status\n      how it is"))
        let some = await table.handle(["help", "quarantine"])
        #expect(some.output.contains("quarantine show QID") && !some.output.contains("status"))
        #expect(await table.handle(["quarantine", "show", "--help"]).output.contains("quarantine show QID"))
    }

    @Test func unknownAndIncompleteCommandsGetUsage() async {
        let unknown = await table.handle(["frobnicate"])
        #expect(!unknown.ok)
        #expect(unknown.output.hasPrefix("unknown command \"frobnicate\"; the commands are:"))
        #expect(unknown.output.contains("status"))
        let typo = await table.handle(["quarantine", "lst"])
        #expect(!typo.ok)
        #expect(typo.output.hasPrefix("unknown command \"quarantine lst\"; did you mean one of:"))
        #expect(!typo.output.contains("status"))
        let incomplete = await table.handle(["quarantine"])
        #expect(!incomplete.ok)
        #expect(incomplete.output.hasPrefix("\"quarantine\" is incomplete; one of:"))
        let empty = await table.handle([])
        #expect(!empty.ok && empty.output.contains("quarantine list"))
    }

    @Test func aLaterCommandWithTheSameWordsReplacesTheFirst() async {
        var table = table
        table.add(ControlCommand(["status"], summary: "new") { _ in .success("new") })
        #expect(table.commands.count == 3)
        #expect(await table.handle(["status"]) == .success("new"))
    }
}

@Suite struct CommandArgumentsTests {
    @Test func optionsAndPositionals() throws {
        let arguments = try CommandArguments(["QX", "--from", "Policy,Virus", "--user=alice"], options: ["from", "user"])
        #expect(arguments.positional == ["QX"])
        #expect(try arguments.list("from") == ["Policy", "Virus"])
        #expect(arguments.value("user") == "alice")
        #expect(arguments.value("limit") == nil)
    }

    @Test(arguments: [
        (["--bogus", "1"], "unknown option --bogus (known here: --from, --limit)"),
        (["--limit"], "--limit needs a value"),
        (["--limit", "1", "--limit", "2"], "--limit is given twice"),
    ])
    func refusals(_ args: [String], _ message: String) {
        #expect(throws: CommandArgumentError(message)) { try CommandArguments(args, options: ["from", "limit"]) }
    }

    @Test(arguments: ["0", "1001", "ten", "-5"])
    func integersOutOfRangeNameTheOption(_ value: String) throws {
        let arguments = try CommandArguments(["--limit", value], options: ["limit"])
        #expect(throws: CommandArgumentError("--limit \(value) is not a number from 1 to 1000")) {
            try arguments.integer("limit", in: 1...1000)
        }
    }

    @Test func positionalCount() throws {
        let arguments = try CommandArguments(["a", "b"], options: [])
        #expect(throws: CommandArgumentError("unexpected argument \"b\"; usage: x QID")) { try arguments.requirePositional(1, usage: "x QID") }
        #expect(throws: CommandArgumentError("missing argument; usage: x A B C")) { try arguments.requirePositional(3, usage: "x A B C") }
    }
}

@Suite struct ControlWireTests {
    @Test func framerFindsTheLineAndTheLimit() {
        var framer = ControlRequestFramer(limit: 10)
        #expect(framer.append(Array("abc".utf8)) == .incomplete)
        #expect(framer.append(Array("de\r\nrest".utf8)) == .line(Array("abcde".utf8)))
        var big = ControlRequestFramer(limit: 10)
        #expect(big.append(Array("0123456789".utf8)) == .incomplete)
        #expect(big.append(Array("x".utf8)) == .tooLarge)
        var exact = ControlRequestFramer(limit: 10)
        #expect(exact.append(Array("012345678\n".utf8)) == .line(Array("012345678".utf8)))
        var over = ControlRequestFramer(limit: 10)
        #expect(over.append(Array("0123456789\n".utf8)) == .tooLarge)
        #expect(ControlRequestFramer(limit: 10).finish() == nil)
    }

    @Test func linesRoundTrip() throws {
        let line = ControlWire.encodeLine(ControlResponse.failure("two\nlines"))
        #expect(line.last == 10)
        #expect(line.dropLast().contains(10) == false)
        #expect(try ControlWire.decodeResponse(line) == .failure("two\nlines"))
        #expect(throws: ControlError(.malformedResponse, "")) { try ControlWire.decodeResponse([]) }
        #expect(throws: ControlError(.malformedResponse, "")) { try ControlWire.decodeResponse(Array("SSH-2.0-x\r\n".utf8)) }
    }

    @Test func tableAlignsAndClips() {
        var table = TextTable(["A", "LONGER", "C"], maxCellWidth: 6)
        table.append(["xx", "y", "a very long cell"])
        #expect(table.render() == "A   LONGER  C\nxx  y       a ver…")
    }
}

@Suite struct CommandPermissionTests {
    let table = CommandTable([
        ControlCommand(["status"], summary: "look") { _ in .success("online") },
        ControlCommand(["suspend"], summary: "stop", permission: .operate) { _ in .success("suspended") },
        ControlCommand(["deleterecipients"], arguments: "all", summary: "drop", permission: .admin,
                       confirmation: "Delete all recipients?") { args, context in
            .success("deleted \(args.joined(separator: " ")) by \(context.who)")
        },
    ])

    @Test func rolesAllowTheirLevelAndBelow() async {
        let reader = CommandContext(user: "rita", role: .readOnly)
        #expect(await table.handle(["status"], context: reader) == .success("online"))
        let refused = await table.handle(["suspend"], context: reader)
        #expect(!refused.ok && refused.output.contains("permission denied: the read-only role"))
        let op = CommandContext(user: "otto", role: .operator)
        #expect(await table.handle(["suspend"], context: op) == .success("suspended"))
        #expect(!(await table.handle(["deleterecipients", "all", "--yes"], context: op)).ok)
    }

    @Test func helpNamesApartWhatTheRoleMayNotRun() async {
        let reader = await table.handle(["help"], context: CommandContext(user: "rita", role: .readOnly))
        #expect(reader.output.contains("  status\n      look"))
        #expect(!reader.output.contains("      stop"))
        #expect(reader.output.hasSuffix("not for the read-only role (ask an admin): suspend, deleterecipients"))
        let admin = await table.handle(["help"])
        #expect(admin.output.contains("deleterecipients all") && !admin.output.contains("not for"))
    }

    @Test func confirmationIsAskedOrNeedsYes() async {
        let batch = CommandContext(user: "ada", role: .admin)
        let noYes = await table.handle(["deleterecipients", "all"], context: batch)
        #expect(!noYes.ok && noYes.output.contains("add --yes"))
        #expect(await table.handle(["deleterecipients", "all", "--yes"], context: batch)
            == .success("deleted all by admin \"ada\" over SSH"))
        let no = CommandContext(user: "ada", role: .admin, interactive: true) { _ in false }
        #expect(await table.handle(["deleterecipients", "all"], context: no).output.contains("not confirmed"))
        let yes = CommandContext(user: "ada", role: .admin, interactive: true) { $0 == "Delete all recipients?" }
        #expect(await table.handle(["deleterecipients", "all"], context: yes).ok)
        #expect(await table.handle(["deleterecipients", "all", "--yes"]) == .success("deleted all by the local control socket"))
    }
}
