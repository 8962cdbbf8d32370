import AdminCLI
import ArgumentParser
import Foundation
import Manager

/// `lazaret manager audit verify|list --config FILE`: the audit log of the manager's
/// quarantine store, over the control socket while the manager runs, else by opening the
/// store itself (the manager holds the store's lock while it runs).
extension ManagerCommand {
    struct Audit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify or list the manager's audit log (running or stopped).",
            subcommands: [Verify.self, List.self])

        struct Verify: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Check the audit log's hash chain; exit status 1 naming the first entry changed, removed or inserted.",
                discussion: """
                    Prints the latest entry's SEQ:HASH when the chain holds: write it down outside this machine. \
                    Later, --anchor SEQ:HASH also proves that no entry up to there was rewritten and that none was cut off the end.
                    """)

            @Option(help: "The manager's YAML configuration.")
            var config: String

            @Option(help: "An entry's SEQ:HASH recorded earlier (from a previous verify): it must still be there, unchanged.")
            var anchor: String?

            func run() async throws {
                try await runAuditCommand(["audit", "verify"] + (anchor.map { ["--anchor", $0] } ?? []), config: config)
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "The latest audit log entries, oldest first.")

            @Option(help: "The manager's YAML configuration.")
            var config: String

            @Option(help: "Entries to show (1-1000, default 20).")
            var limit: Int = AuditCommands.defaultListLimit

            func run() async throws {
                try await runAuditCommand(["audit", "list", "--limit", "\(limit)"], config: config)
            }
        }
    }
}

/// Sends `args` to the manager's control socket when it answers; otherwise runs them on
/// the stopped manager's store. Prints the answer; a refusal or a broken chain goes to
/// stderr with exit status 1.
private func runAuditCommand(_ args: [String], config: String) async throws {
    let configuration = try ManagerConfiguration.load(path: absolutePath(config))
    let socket = configuration.resolve(configuration.controlSocket)
    let response: ControlResponse
    if await ControlClient.isAnswering(socketPath: socket) {
        do {
            response = try await ControlClient.send(args, socketPath: socket, peer: .manager)
        } catch {
            FileHandle.standardError.write(Data("lazaret: \(error)\n".utf8))
            throw ExitCode.failure
        }
    } else {
        response = await AuditCommands.runOnStoppedManager(args, configuration: configuration)
    }
    guard response.ok else {
        FileHandle.standardError.write(Data("lazaret: \(response.output)\n".utf8))
        throw ExitCode.failure
    }
    print(response.output)
}
