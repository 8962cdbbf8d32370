import ArgumentParser
import Foundation
import Gateway
import Scanning

/// The running instance's process id, in `HOME/lazaret.pid`, for `reload`.
struct PIDFile {
    let path: String

    init(home: String) {
        path = (home as NSString).appendingPathComponent("lazaret.pid")
    }

    func write() throws {
        try "\(getpid())\n".write(toFile: path, atomically: true, encoding: .utf8)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// The pid of a running instance, or nil (no file, or the process is gone).
    func running() -> pid_t? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0, kill(pid, 0) == 0 else { return nil }
        return pid
    }
}

/// `lazaret reload`: SIGHUP to the running instance.
struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make the running instance read its configuration again (message filters, mail policies, anti-virus actions) and check for new outbreak rules; sessions are not dropped.")

    @Option(help: "The running instance's home directory.")
    var home: String = "./.lazaret"

    func run() throws {
        let pidFile = PIDFile(home: absolutePath(home))
        guard let pid = pidFile.running() else {
            throw ValidationError("no running Lazaret found in \(absolutePath(home)) (\(pidFile.path) is missing or stale); start it with `lazaret up --home \(home)`")
        }
        guard kill(pid, SIGHUP) == 0 else { throw ValidationError("cannot signal process \(pid): \(String(cString: strerror(errno)))") }
        print("lazaret: asked process \(pid) to reload; mail_logs says whether the new configuration is in force")
    }
}

/// `lazaret outbreak update FILE`: checks a new rules file and installs it.
struct OutbreakCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbreak", abstract: "Manage outbreak filter rules.", subcommands: [Update.self])

    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a new outbreak rules file and put it in place of the configured one; the running gateway picks it up and rescans the messages it holds for outbreak.")

        @Argument(help: "The new rules file (YAML: version and rules).")
        var file: String

        @Option(help: "The instance's home directory (its lazaret.yaml names the rules file).")
        var home: String = "./.lazaret"

        func run() throws {
            let home = absolutePath(home)
            let configuration = try GatewayConfiguration.load(path: (home as NSString).appendingPathComponent("lazaret.yaml"))
            let target = configuration.resolvedPath(configuration.scanning.outbreak.rules)
            let rules = try OutbreakRules.load(path: absolutePath(file))
            if let installed = try? OutbreakRules.load(path: target), installed.version == rules.version, installed != rules {
                throw ValidationError("\(file) has version \(rules.version), the same as the rules in force but different rules; give it a new version")
            }
            let temporary = target + ".new"
            try String(contentsOfFile: absolutePath(file), encoding: .utf8).write(toFile: temporary, atomically: false, encoding: .utf8)
            guard rename(temporary, target) == 0 else {
                throw ValidationError("cannot install \(target): \(String(cString: strerror(errno)))")
            }
            print("lazaret: outbreak rules version \(rules.version) (\(rules.rules.count) rules) installed as \(target)")
            if let pid = PIDFile(home: home).running(), kill(pid, SIGHUP) == 0 {
                print("lazaret: the running gateway (process \(pid)) was told; mail_logs shows the rescan")
            }
        }
    }
}
