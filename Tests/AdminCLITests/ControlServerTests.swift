import Foundation
import NIOCore
import NIOPosix
import Testing
@testable import AdminCLI

/// The control socket for real: unix sockets in temporary directories, every server
/// closed and every directory removed by the test that made it.
@Suite struct ControlServerTests {
    /// A read deadline no loaded CI machine reaches, for every test but the one about it.
    static let generous: TimeAmount = .seconds(600)

    @Test("a command goes over the socket and its answer comes back")
    func roundTrip() async throws {
        try await withSocketDirectory { path in
            let server = try await ControlServer.start(socketPath: path, readTimeout: Self.generous) { args in
                .success("got " + args.joined(separator: "|"))
            }
            let answer = try await ControlClient.send(["quarantine", "list", "--limit", "5", "ünïcode \"quoted\"\nline"], socketPath: path)
            #expect(answer == .success("got quarantine|list|--limit|5|ünïcode \"quoted\"\nline"))
            #expect(try await ControlClient.send([], socketPath: path) == .success("got "))
            await server.close()
        }
    }

    @Test("the socket is mode 0600 and close() removes it")
    func modeAndClose() async throws {
        try await withSocketDirectory { path in
            let server = try await ControlServer.start(socketPath: path, readTimeout: Self.generous) { _ in .success("") }
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            #expect(attributes[.type] as? FileAttributeType == .typeSocket)
            await server.close()
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    @Test("a request that is not JSON gets a clear refusal")
    func malformedJSON() async throws {
        try await withSocketDirectory { path in
            let server = try await ControlServer.start(socketPath: path, readTimeout: Self.generous) { _ in .success("should not run") }
            let answer = try ControlWire.decodeResponse(try await exchange(Array("quarantine list\n".utf8), path: path))
            #expect(!answer.ok)
            #expect(answer.output.hasPrefix("malformed request: expected one line of JSON like {\"args\":[\"help\"]}"), "\(answer.output)")
            let wrongShape = try ControlWire.decodeResponse(try await exchange(Array(#"{"argv":["x"]}"#.utf8) + [10], path: path))
            #expect(!wrongShape.ok)
            #expect(wrongShape.output.contains("no \"args\" field"), "\(wrongShape.output)")
            await server.close()
        }
    }

    @Test("a request over 64 KiB is refused without running the handler")
    func oversizedRequest() async throws {
        try await withSocketDirectory { path in
            let ran = Counter()
            let server = try await ControlServer.start(socketPath: path, readTimeout: Self.generous) { _ in ran.increment(); return .success("ran") }
            let big = Array(#"{"args":[""#.utf8) + Array(repeating: UInt8(ascii: "a"), count: 70_000) + Array(#""]}"#.utf8) + [10]
            let answer = try ControlWire.decodeResponse(try await exchange(big, path: path))
            #expect(!answer.ok)
            #expect(answer.output.hasPrefix("request too large"), "\(answer.output)")
            #expect(answer.output.contains("65536"))
            // Just under the limit is fine.
            let args = [String(repeating: "b", count: ControlWire.maxRequestBytes - 20)]
            let fits = try await ControlClient.send(args, socketPath: path)
            #expect(fits == .success("ran"))
            #expect(ran.value == 1)
            await server.close()
        }
    }

    @Test("a client that sends nothing is cut off at the read deadline")
    func readDeadline() async throws {
        try await withSocketDirectory { path in
            let server = try await ControlServer.start(socketPath: path, readTimeout: .milliseconds(300)) { _ in .success("ran") }
            let answer = try ControlWire.decodeResponse(try await exchange(Array(#"{"args":"#.utf8), path: path, halfClose: false))
            #expect(!answer.ok)
            #expect(answer.output.hasPrefix("no complete request within"), "\(answer.output)")
            await server.close()
        }
    }

    @Test("a request without its newline is taken when the client closes its side")
    func halfClose() async throws {
        try await withSocketDirectory { path in
            let server = try await ControlServer.start(socketPath: path, readTimeout: Self.generous) { args in .success(args.joined()) }
            let answer = try ControlWire.decodeResponse(try await exchange(Array(#"{"args":["help"]}"#.utf8), path: path))
            #expect(answer == .success("help"))
            await server.close()
        }
    }

    @Test("a socket file left by a dead process is replaced")
    func staleSocketReplaced() async throws {
        try await withSocketDirectory { path in
            try makeStaleSocket(at: path)
            #expect(FileManager.default.fileExists(atPath: path))
            // Nothing answers on a stale socket: the client says so.
            await #expect(throws: ControlError(.notRunning, "")) { try await ControlClient.send(["x"], socketPath: path) }
            let server = try await ControlServer.start(socketPath: path, readTimeout: Self.generous) { _ in .success("fresh") }
            #expect(try await ControlClient.send(["x"], socketPath: path) == .success("fresh"))
            await server.close()
        }
    }

    @Test("a second server on a socket a live process answers on is refused, naming the path")
    func secondServerRefused() async throws {
        try await withSocketDirectory { path in
            let first = try await ControlServer.start(socketPath: path, readTimeout: Self.generous) { _ in .success("first") }
            do {
                let second = try await ControlServer.start(socketPath: path, readTimeout: Self.generous) { _ in .success("second") }
                await second.close()
                Issue.record("a second server started on a live socket")
            } catch let error as ControlError {
                #expect(error.code == .inUse)
                #expect(error.message.contains(path), "\(error.message)")
                #expect(error.message.contains("another running process answers on it"), "\(error.message)")
            }
            // The first one still answers.
            #expect(try await ControlClient.send(["x"], socketPath: path) == .success("first"))
            await first.close()
        }
    }

    @Test("a file that is not a socket is not removed")
    func notASocket() async throws {
        try await withSocketDirectory { path in
            try "keep me".write(toFile: path, atomically: true, encoding: .utf8)
            await #expect(throws: ControlError(.socketPath, "")) {
                let server = try await ControlServer.start(socketPath: path, readTimeout: Self.generous) { _ in .success("") }
                await server.close()
            }
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "keep me")
        }
    }

    @Test("with nothing listening, the client names the socket and how to start the manager")
    func nothingListens() async throws {
        try await withSocketDirectory { path in
            do {
                _ = try await ControlClient.send(["quarantine", "list"], socketPath: path)
                Issue.record("send succeeded with no server")
            } catch let error as ControlError {
                #expect(error.code == .notRunning)
                #expect(error.message == "no running manager answers on \(path): start it with lazaret up or lazaret manager --config FILE")
            }
        }
    }

    @Test("answers come back to concurrent clients")
    func concurrentClients() async throws {
        try await withSocketDirectory { path in
            let server = try await ControlServer.start(socketPath: path, readTimeout: Self.generous) { args in
                try? await Task.sleep(for: .milliseconds(20))
                return .success(args[0])
            }
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for n in 0..<50 {
                    group.addTask { try await ControlClient.send(["\(n)"], socketPath: path) == .success("\(n)") }
                }
                for try await ok in group { #expect(ok) }
            }
            await server.close()
        }
    }
}

// MARK: Helpers

/// Runs `body` with a socket path in a fresh temporary directory (short enough for
/// sun_path), removing the directory afterwards.
func withSocketDirectory(_ body: (String) async throws -> Void) async throws {
    var template = Array("/tmp/lzctl-XXXXXX".utf8CString)
    guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
        throw ControlError(.io, "mkdtemp failed")
    }
    let directory = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try await body(directory + "/control.sock")
}

/// Sends raw bytes (closing the sending side after them unless `halfClose` is false) and
/// returns everything the server sent until it closed.
func exchange(_ bytes: [UInt8], path: String, halfClose: Bool = true) async throws -> [UInt8] {
    let group = MultiThreadedEventLoopGroup.singleton
    let promise = group.next().makePromise(of: [UInt8].self)
    let channel: any Channel
    do {
        channel = try await ClientBootstrap(group: group)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ControlResponseCollector(promise: promise, limit: 1 << 20))
                }
            }
            .connect(unixDomainSocketPath: path).get()
    } catch {
        promise.fail(error)
        throw error
    }
    // The server may answer (and close) before all is written, e.g. when it refuses an
    // oversized request: then the write or the half-close fails, and the answer counts.
    try? await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes)).get()
    if halfClose { try? await channel.close(mode: .output).get() }
    return try await promise.futureResult.get()
}

/// A socket file with no process behind it: bound, then the descriptor closed.
func makeStaleSocket(at path: String) throws {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ControlError(.io, "socket() failed") }
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: path.utf8.prefix(raw.count - 1))
    }
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard bound == 0 else { throw ControlError(.io, "bind(\(path)) failed: \(String(cString: strerror(errno)))") }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}
