import AdminCLI
import Foundation
import QuarantineStore

/// The `audit list|verify` commands of the manager's control socket, over the manager's
/// own `QuarantineStore` (`lazaret quarantine audit`, and `lazaret manager audit verify`
/// while the manager runs). The texts are shared with the CLI, which renders them itself
/// when the manager is stopped.
public struct AuditCommands: Sendable {
    public let store: QuarantineStore

    /// Default number of entries `audit list` prints.
    public static let defaultListLimit = 20

    public init(store: QuarantineStore) {
        self.store = store
    }

    /// The two commands, for a `CommandTable`.
    public var commands: [ControlCommand] {
        [
            ControlCommand(["audit", "list"], arguments: "[--limit N]",
                           summary: "the latest audit log entries, oldest first (\(Self.defaultListLimit) by default; --limit 1-\(QuarantineStoreOptions.maxListLimit))",
                           run: list),
            ControlCommand(["audit", "verify"], arguments: "[--anchor SEQ:HASH]",
                           summary: "check the audit log's hash chain; fails naming the first entry that was changed, removed or inserted",
                           run: verify),
        ]
    }

    /// `audit list [--limit N]`
    public func list(_ args: [String]) async -> ControlResponse {
        do {
            let arguments = try CommandArguments(args, options: ["limit"])
            _ = try arguments.requirePositional(0, usage: "audit list [--limit N]")
            let limit = try arguments.integer("limit", in: 1...QuarantineStoreOptions.maxListLimit) ?? Self.defaultListLimit
            return .success(Self.table(try await store.auditEntries(last: limit)))
        } catch let error as CommandArgumentError {
            return .failure(error.description)
        } catch let error as QuarantineStoreError {
            return .failure(error.message)
        } catch {
            return .failure("\(error)")
        }
    }

    /// `audit verify [--anchor SEQ:HASH]`: `ok: false` when the chain is broken.
    public func verify(_ args: [String]) async -> ControlResponse {
        do {
            let arguments = try CommandArguments(args, options: ["anchor"])
            _ = try arguments.requirePositional(0, usage: "audit verify [--anchor SEQ:HASH]")
            let anchor = try arguments.value("anchor").map(Self.anchor)
            let result = try await store.verifyAudit(anchor: anchor)
            return result.isIntact ? .success(result.summary) : .failure(result.summary)
        } catch let error as CommandArgumentError {
            return .failure(error.description)
        } catch let error as QuarantineStoreError {
            return .failure(error.message)
        } catch {
            return .failure("\(error)")
        }
    }

    /// Runs `audit ...` (`args` as the control socket takes them) on the store of a manager
    /// that is not running, opening the store itself: the same answers as over the socket.
    /// Refuses when there is no store yet (a wrong `store.directory`, or a manager never
    /// started) rather than making an empty one, and when the manager runs after all (the
    /// store is locked: use its control socket).
    public static func runOnStoppedManager(_ args: [String], configuration: ManagerConfiguration) async -> ControlResponse {
        let directory = configuration.resolve(configuration.storeDirectory)
        guard FileManager.default.fileExists(atPath: directory + "/quarantine.sqlite") else {
            return .failure("no quarantine store in \(directory): check store.directory in the configuration (or start the manager once)")
        }
        let store: QuarantineStore
        do {
            store = try QuarantineStore.open(directory: directory)
        } catch let error as QuarantineStoreError {
            return .failure(error.message)
        } catch {
            return .failure("\(error)")
        }
        defer { try? store.close() }
        return await CommandTable(AuditCommands(store: store).commands).handle(args)
    }

    // MARK: Texts

    /// `--anchor` as `audit verify` printed it.
    public static func anchor(_ text: String) throws -> AuditAnchor {
        guard let anchor = AuditAnchor(text) else {
            throw CommandArgumentError("--anchor \"\(text)\" is not SEQ:HASH (an entry number, a colon and 64 hex digits, as audit verify prints them)")
        }
        return anchor
    }

    /// The entries as a table, oldest first, with the latest hash under it.
    public static func table(_ entries: [AuditEntry]) -> String {
        guard let last = entries.last else { return "the audit log has no entries yet" }
        var table = TextTable(["SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "OUTCOME", "DETAIL"], maxCellWidth: 70)
        for entry in entries {
            table.append(["\(entry.sequence)", entry.time.formatted(.iso8601), TextTable.printable(entry.actor.description),
                          TextTable.printable(entry.action.rawValue), TextTable.printable(entry.target.description),
                          TextTable.printable(entry.outcome.description), TextTable.printable(entry.detail ?? "")])
        }
        return table.render() + "\nlatest entry \(last.sequence) hash \(last.hash) (lazaret manager audit verify checks the chain)"
    }

}
