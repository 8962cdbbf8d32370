import AdminCLI
import ArgumentParser
import Foundation
import Manager

/// `lazaret quarantine list|show|release|release-all|delete|audit`: the running manager's quarantines, over
/// its control socket (the manager holds the store's lock, so the CLI never opens it).
struct QuarantineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quarantine",
        abstract: "List, show, release or delete quarantined messages on the running manager.",
        subcommands: [List.self, Search.self, Show.self, Release.self, ReleaseAll.self, Delete.self, Audit.self])

    /// Where the manager's control socket is.
    struct Connection: ParsableArguments {
        @Option(help: "The home directory of `lazaret up` (the socket is DIR/manager/control.sock).")
        var home: String = "./.lazaret"

        @Option(help: "The manager's control socket (its control_socket), instead of the one under --home.")
        var socket: String?

        var socketPath: String {
            socket.map(absolutePath) ?? (absolutePath(home) as NSString).appendingPathComponent("manager/control.sock")
        }

        /// Sends `args`, prints the answer; a refusal goes to stderr with exit status 1.
        func run(_ args: [String]) async throws {
            let response: ControlResponse
            do {
                response = try await ControlClient.send(args, socketPath: socketPath, peer: .manager)
            } catch {
                FileHandle.standardError.write(Data("lazaret: \(error)\n".utf8))
                throw ExitCode.failure
            }
            guard response.ok else {
                FileHandle.standardError.write(Data("lazaret: \(response.output)\n".utf8))
                throw ExitCode.failure
            }
            print(response.output)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Messages still held, newest first.")

        @Option(help: "Only this quarantine (e.g. Policy, Virus, Outbreak).")
        var quarantine: String?

        @Option(help: "Messages per page (1-1000, default 50).")
        var limit: String?

        @Option(help: "Continue after this cursor (the `next cursor` of the previous page).")
        var cursor: String?

        @OptionGroup var connection: Connection

        func run() async throws {
            var args = ["quarantine", "list"]
            if let quarantine { args += ["--quarantine", quarantine] }
            if let limit { args += ["--limit", limit] }
            if let cursor { args += ["--cursor", cursor] }
            try await connection.run(args)
        }
    }

    struct Search: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Held messages matching every filter given; --text searches headers and body text.")

        @Option(help: "Words (all must match) or \"a phrase\" in the envelope, headers or body text.") var text: String?
        @Option(help: "The envelope sender (words of it).") var from: String?
        @Option(help: "An envelope recipient (words of it).") var rcpt: String?
        @Option(help: "Words of the subject.") var subject: String?
        @Option(help: "The originating gateway.") var gateway: String?
        @Option(help: "Only this quarantine.") var quarantine: String?
        @Option(help: "Filter name, virus name or outbreak rule.") var reason: String?
        @Option(help: "newest (default), oldest, largest or smallest.") var order: String?
        @Option(help: "Messages per page (1-1000, default 50).") var limit: String?
        @Option(help: "Continue after this cursor (same filters and order).") var cursor: String?
        @OptionGroup var connection: Connection

        func run() async throws {
            var args = ["quarantine", "search"]
            for (name, value) in [("text", text), ("from", from), ("rcpt", rcpt), ("subject", subject), ("gateway", gateway),
                                  ("quarantine", quarantine), ("reason", reason), ("order", order), ("limit", limit), ("cursor", cursor)] {
                if let value { args += ["--\(name)", value] }
            }
            try await connection.run(args)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One message: envelope, quarantines with reasons, release history.")

        @Argument(help: "The message's QID (from `lazaret quarantine list`).")
        var qid: String

        @OptionGroup var connection: Connection

        func run() async throws {
            try await connection.run(["quarantine", "show", qid])
        }
    }

    struct Release: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Release a message; it is delivered once released from every quarantine it is held in.")

        @Argument(help: "The message's QID.")
        var qid: String

        @Option(help: "Only from these quarantines (comma-separated); default: all it is held in.")
        var from: String?

        @Option(help: "Who releases it, for the history (default: cli:<your unix user>).")
        var user: String?

        @OptionGroup var connection: Connection

        func run() async throws {
            try await connection.run(actionArguments("release", qid: qid, from: from, user: user))
        }
    }

    struct ReleaseAll: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "release-all",
            abstract: "Release every held message (from one quarantine with --quarantine, else from all its quarantines).")

        @Option(help: "Only messages held in this quarantine, released from it alone.")
        var quarantine: String?

        @Option(help: "Who releases them, for the history (default: cli:<your unix user>).")
        var user: String?

        @OptionGroup var connection: Connection

        func run() async throws {
            var args = ["quarantine", "release-all"]
            if let quarantine { args += ["--quarantine", quarantine] }
            args += ["--user", user ?? QuarantineCommands.processUser()]
            try await connection.run(args)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a message; deleted from any quarantine, it is never delivered.")

        @Argument(help: "The message's QID.")
        var qid: String

        @Option(help: "Only from these quarantines (comma-separated); default: all.")
        var from: String?

        @Option(help: "Who deletes it, for the history (default: cli:<your unix user>).")
        var user: String?

        @OptionGroup var connection: Connection

        func run() async throws {
            try await connection.run(actionArguments("delete", qid: qid, from: from, user: user))
        }
    }
}

/// `quarantine VERB QID [--from ...] --user ...`: the user is the one running the CLI
/// (the manager may run as another user), unless `--user` names someone.
private func actionArguments(_ verb: String, qid: String, from: String?, user: String?) -> [String] {
    var args = ["quarantine", verb, qid]
    if let from { args += ["--from", from] }
    args += ["--user", user ?? QuarantineCommands.processUser()]
    return args
}
