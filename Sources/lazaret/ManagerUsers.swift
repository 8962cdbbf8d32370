import ArgumentParser
import Foundation
import Manager
import WebUI

/// `lazaret manager user add|remove|list` and `lazaret manager token create|revoke`: the
/// API's users and bearer tokens (`web.users` in the manager's configuration). The running
/// manager sees changes at once.
struct UserCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Add, remove or list the API's users (roles: \(APIRole.names)).",
        subcommands: [Add.self, Remove.self, List.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user with a role (or change an existing user's role).")
        @Argument(help: "The user's name.") var name: String
        @Option(help: "admin, operator, read-only or help-desk.") var role: String
        @Option(help: "The manager's YAML configuration.") var config: String

        func run() throws {
            guard let parsed = APIRole(rawValue: role) else {
                throw ValidationError("--role \"\(role)\" is not a role: use one of \(APIRole.names)")
            }
            try directory(config).addUser(name, role: parsed)
            print("lazaret: user \(name) has the role \(parsed.rawValue); make a token: lazaret manager token create \(name) --config \(config)")
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a user and every token of theirs.")
        @Argument(help: "The user's name.") var name: String
        @Option(help: "The manager's YAML configuration.") var config: String

        func run() throws {
            guard try directory(config).removeUser(name) else { throw ValidationError("no user \"\(name)\"") }
            print("lazaret: user \(name) removed, with their tokens")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The users and their roles.")
        @Option(help: "The manager's YAML configuration.") var config: String

        func run() throws {
            let users = try directory(config).users()
            if users.isEmpty { print("No users: add one with lazaret manager user add NAME --role ROLE") }
            for user in users { print("\(user.name)\t\(user.role.rawValue)") }
        }
    }
}

struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Make or withdraw the API's bearer tokens.", subcommands: [Create.self, Revoke.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a bearer token for a user and print it (it is shown this once).")
        @Argument(help: "The user's name.") var name: String
        @Option(help: "A note on what the token is for.") var label: String = ""
        @Option(help: "The manager's YAML configuration.") var config: String

        func run() throws {
            print(try directory(config).createToken(for: name, label: label))
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Withdraw every token of a user.")
        @Argument(help: "The user's name.") var name: String
        @Option(help: "The manager's YAML configuration.") var config: String

        func run() throws {
            print("lazaret: \(try directory(config).revokeTokens(of: name)) token(s) of \(name) withdrawn")
        }
    }
}

private func directory(_ config: String) throws -> UserDirectory {
    let configuration = try ManagerConfiguration.load(path: absolutePath(config))
    return UserDirectory(path: configuration.resolve(configuration.usersFile))
}

/// `lazaret up`: the first admin and a token for them, in `DIR/admin-token` (mode 0600),
/// made once; printed at every start so the admin can find it.
func ensureAdminToken(manager: ManagerConfiguration, home: String) throws -> String {
    let path = (home as NSString).appendingPathComponent("admin-token")
    if let existing = try? String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
       !existing.isEmpty {
        return existing
    }
    let users = UserDirectory(path: manager.resolve(manager.usersFile))
    try users.addUser("admin", role: .admin)
    let token = try users.createToken(for: "admin", label: "made by lazaret up")
    try Data((token + "\n").utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    chmod(path, 0o600)
    return token
}
