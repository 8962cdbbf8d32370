import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Shared plumbing for tests that run the real `lazaret` binary against real
/// SMTP peers (swaks, Postfix's smtp-source/smtp-sink, Python's smtplib).
/// Everything binds 127.0.0.1 on ephemeral ports and is stopped by the test.
enum Harness {
    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// The `lazaret` executable: `$LAZARET_BIN` (set by scripts/test), else the debug build next to the package.
    static var lazaretBinary: String {
        get throws {
            if let path = ProcessInfo.processInfo.environment["LAZARET_BIN"], FileManager.default.isExecutableFile(atPath: path) {
                return path
            }
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            for candidate in [".build/debug/lazaret", ".build/release/lazaret"] {
                let path = root.appendingPathComponent(candidate).path
                if FileManager.default.isExecutableFile(atPath: path) { return path }
            }
            throw Failure("the lazaret binary was not found: run ./scripts/test (it builds it and sets LAZARET_BIN)")
        }
    }

    /// Finds a tool on PATH (plus /usr/sbin); a missing tool fails the test, never skips it.
    static func tool(_ name: String) throws -> String {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/sbin:/sbin:/usr/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw Failure("\(name) is not installed: ./scripts/test installs it (apt-get install swaks postfix)")
    }

    /// A TCP port that was free a moment ago on 127.0.0.1.
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func makeTempDirectory(_ label: String) throws -> String {
        let path = NSTemporaryDirectory() + "lazaret-\(label)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        chmod(path, 0o777)
        return path
    }

    /// Polls `condition` until it holds or `seconds` pass (generous: CI machines are slow).
    static func waitUntil(_ what: String, seconds: Double = 60, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return }
            usleep(100_000)
        }
        throw Failure("timed out after \(Int(seconds))s waiting for \(what)")
    }

    /// True when something accepts TCP connections on 127.0.0.1:port.
    static func isListening(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    /// Runs a command to completion and returns (status, stdout+stderr). `environment`
    /// adds to (or, with a nil value, removes from) the test's own.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], input: String? = nil, timeout: Double = 120,
                    environment: [String: String?] = [:]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            var merged = ProcessInfo.processInfo.environment
            for (name, value) in environment { merged[name] = value }
            process.environment = merged
        }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        let stdin = Pipe()
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try? stdin.fileHandleForWriting.close()
        let collected = LockedData()
        let reader = Thread {
            let data = output.fileHandleForReading.readDataToEndOfFile()
            collected.set(data)
        }
        reader.start()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            throw Failure("\(executable) \(arguments.joined(separator: " ")) did not finish in \(Int(timeout))s")
        }
        process.waitUntilExit()
        while !collected.done { usleep(5_000) }
        return (process.terminationStatus, String(decoding: collected.data, as: UTF8.self))
    }
}

final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var value = Data()
    private var finished = false
    func set(_ data: Data) { lock.lock(); value = data; finished = true; lock.unlock() }
    var data: Data { lock.lock(); defer { lock.unlock() }; return value }
    var done: Bool { lock.lock(); defer { lock.unlock() }; return finished }
}

/// A background process the test owns; terminated (or killed) when the test ends.
final class Background {
    let process: Process
    let logPath: String

    init(_ executable: String, _ arguments: [String], logPath: String) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        self.logPath = logPath
        try process.run()
    }

    var output: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func kill9() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM, then SIGKILL if it is still there after 20 seconds.
    /// (Children may inherit a blocked SIGTERM from the test runner: Postfix's
    /// tools do, so `SMTPSink` uses `kill9` — it holds nothing worth flushing.)
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        kill9()
    }

    deinit { kill9() }
}

/// Postfix's smtp-sink dumping every transaction into a directory.
final class SMTPSink {
    let port: Int
    let directory: String
    private let background: Background

    /// `extraArguments` e.g. `["-B", "550 5.1.1 No such user", "-f", "RCPT"]` to refuse.
    init(port: Int = Harness.freePort(), extraArguments: [String] = []) throws {
        self.port = port
        directory = try Harness.makeTempDirectory("sink")
        background = try Background(try Harness.tool("smtp-sink"),
            ["-u", "nobody", "-d", "\(directory)/%H%M%S."] + extraArguments + ["127.0.0.1:\(port)", "256"],
            logPath: directory + ".log")
        try Harness.waitUntil("smtp-sink on port \(port)", seconds: 30) { Harness.isListening(port) }
    }

    /// The dumped transactions: each file's text.
    var messages: [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return files.sorted().compactMap { try? String(contentsOfFile: "\(directory)/\($0)", encoding: .utf8) }
    }

    /// The gateway MIDs seen in the dumps (from our Received header's `id N`), one per message.
    var deliveredMIDs: [Int] {
        messages.compactMap { text in
            guard let range = text.range(of: #"\(Lazaret\) with ESMTPS? id (\d+)"#, options: .regularExpression) else { return nil }
            return Int(text[range].split(separator: " ").last!)
        }
    }

    func stop() { background.kill9() }
    deinit { background.kill9(); try? FileManager.default.removeItem(atPath: directory) }
}
