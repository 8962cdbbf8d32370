import AdminCLI
import ArgumentParser
import Foundation
import Gateway
import Manager

/// `lazaret cli [--home DIR] [--role gateway|manager] [--socket PATH] COMMAND...`: one
/// admin command (`status`, `tophosts`, `deleterecipients host the.cpq.host --yes`...)
/// over the running role's control socket. Exit status 0 when it succeeded, 1 otherwise.
struct CLICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cli",
        abstract: "Run an admin command (status, tophosts, showrecipients, suspend...) on a running gateway or manager.",
        discussion: """
            The command goes over the role's local control socket: DIR/control.sock for the gateway \
            and DIR/manager/control.sock for the manager under lazaret up (or control_socket in their \
            configuration files). `lazaret cli help` lists the commands (docs/ADMIN-CLI.md).
            """)

    enum Role: String, ExpressibleByArgument, CaseIterable {
        case gateway, manager
    }

    @Option(help: "The directory lazaret up uses (the gateway's home; the manager's is DIR/manager).")
    var home: String = "./.lazaret"

    @Option(help: "The role to ask: gateway or manager.")
    var role: Role = .gateway

    @Option(help: "The control socket's path (instead of the one under --home).")
    var socket: String?

    @Argument(parsing: .captureForPassthrough, help: "The command and its words, e.g. tophosts, or showrecipients host the.cpq.host.")
    var words: [String] = []

    func run() async throws {
        let path: String
        do {
            path = try socket.map(absolutePath) ?? Self.socketPath(home: absolutePath(home), role: role)
        } catch {
            FileHandle.standardError.write(Data("lazaret: \(error)\n".utf8))
            throw ExitCode.failure
        }
        let peer: ControlPeer = role == .gateway ? .gateway : .manager
        var args = words.first == "--" ? Array(words.dropFirst()) : words
        if args.isEmpty { args = ["help"] }
        do {
            var response = try await ControlClient.send(args, socketPath: path, peer: peer)
            if !response.ok, response.output.contains("needs confirmation: add --yes"), isatty(STDIN_FILENO) == 1 {
                print("\(args.joined(separator: " ")): are you sure? [y/N] ", terminator: "")
                fflush(nil)
                guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                    FileHandle.standardError.write(Data("lazaret: not confirmed; nothing was changed\n".utf8))
                    throw ExitCode.failure
                }
                response = try await ControlClient.send(args + ["--yes"], socketPath: path, peer: peer)
            }
            guard response.ok else {
                FileHandle.standardError.write(Data("lazaret: \(response.output)\n".utf8))
                throw ExitCode.failure
            }
            print(response.output)
        } catch let error as ControlError {
            FileHandle.standardError.write(Data("lazaret: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    /// The socket the role uses under `home` as `lazaret up` lays it out: the gateway's
    /// `control_socket` from DIR/lazaret.yaml, the manager's from DIR/manager/manager.yaml
    /// (each `control.sock` in its home when the file is absent).
    static func socketPath(home: String, role: Role) throws -> String {
        switch role {
        case .gateway:
            let file = (home as NSString).appendingPathComponent("lazaret.yaml")
            guard FileManager.default.fileExists(atPath: file) else { return (home as NSString).appendingPathComponent("control.sock") }
            let configuration = try GatewayConfiguration.load(path: file)
            return configuration.resolvedPath(configuration.controlSocket)
        case .manager:
            let managerHome = (home as NSString).appendingPathComponent("manager")
            let file = (managerHome as NSString).appendingPathComponent("manager.yaml")
            guard FileManager.default.fileExists(atPath: file) else { return (managerHome as NSString).appendingPathComponent("control.sock") }
            let configuration = try ManagerConfiguration.load(path: file)
            return configuration.resolve(configuration.controlSocket)
        }
    }
}
