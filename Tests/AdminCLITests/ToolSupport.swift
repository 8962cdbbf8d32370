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
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let stdout = Pipe()
    let stderr = Pipe()
    let stdin = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    process.standardInput = stdin
    let collected = NIOLockedValueBox((out: Data(), err: Data()))
    let group = DispatchGroup()
    group.enter()
    group.enter()
    DispatchQueue.global().async {
        let data = stdout.fileHandleForReading.readDataToEndOfFile()
        collected.withLockedValue { $0.out = data }
        group.leave()
    }
    DispatchQueue.global().async {
        let data = stderr.fileHandleForReading.readDataToEndOfFile()
        collected.withLockedValue { $0.err = data }
        group.leave()
    }
    try process.run()
    DispatchQueue.global().asyncAfter(deadline: .now() + 120) { [process] in
        if process.isRunning { process.terminate() }
    }
    let writer = stdin.fileHandleForWriting
    let inputData = Data((input ?? "").utf8)
    DispatchQueue.global().async {
        if !inputData.isEmpty { try? writer.write(contentsOf: inputData) }
        try? writer.close()
    }
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        DispatchQueue.global().async {
            group.wait()
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
