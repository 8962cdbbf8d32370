import Foundation
import NIOConcurrencyHelpers

/// What a tool run by a test printed.
struct ToolResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `arguments` (found on PATH) to its end without blocking a Swift concurrency thread
/// (the server under test needs them): stdin from `input`, stdout and stderr apart.
/// A tool still running after 120 s is terminated, only so a broken test ends; no test
/// asserts on time.
func runTool(_ arguments: [String], input: String? = nil, environment: [String: String] = [:]) async throws -> ToolResult {
    let process = Process()
    // Through a shell that waits for the tool: ssh closes every inherited descriptor at
    // start, including the one Foundation watches to learn that a child ended, and
    // Foundation then blocks in waitpid(ssh) — every other Process of the test run stops
    // being reaped until ssh ends. The shell keeps that descriptor until the tool is done.
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", "\"$@\"; exit $?", "sh"] + arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let stdout = Pipe()
    let stderr = Pipe()
    let stdin = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    process.standardInput = stdin
    try process.run()
    DispatchQueue.global().asyncAfter(deadline: .now() + 120) { [process] in
        if process.isRunning { process.terminate() }
    }
    // Dedicated threads, not the dispatch pool: blocking reads of many parallel tests
    // must not starve it (Foundation's Process needs it to notice the exit).
    let collected = NIOLockedValueBox((out: Data(), err: Data()))
    let writer = stdin.fileHandleForWriting
    let inputData = Data((input ?? "").utf8)
    Thread.detachNewThread {
        if !inputData.isEmpty { try? writer.write(contentsOf: inputData) }
        try? writer.close()
    }
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let errorDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let data = stderr.fileHandleForReading.readDataToEndOfFile()
            collected.withLockedValue { $0.err = data }
            errorDone.signal()
        }
        Thread.detachNewThread {
            let data = stdout.fileHandleForReading.readDataToEndOfFile()
            collected.withLockedValue { $0.out = data }
            errorDone.wait()
            process.waitUntilExit()
            continuation.resume()
        }
    }
    let output = collected.withLockedValue { $0 }
    return ToolResult(status: process.terminationStatus, stdout: String(decoding: output.out, as: UTF8.self),
                      stderr: String(decoding: output.err, as: UTF8.self))
}

/// A temporary directory for one test, removed afterwards.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let path = NSTemporaryDirectory() + "lazaret-ssh-" + UUID().uuidString.prefix(8)
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}
