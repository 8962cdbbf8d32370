import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real clamd of our own: a temp directory with a config that listens on a local
/// socket there, and a signature database holding one line, the EICAR test file's MD5
/// (`.hdb`), so no signatures are downloaded. Started in the foreground; stopped when
/// the test ends.
final class Clamd {
    let directory: String
    var socketPath: String { directory + "/clamd.sock" }
    private var background: Background?

    /// The 68-byte EICAR anti-virus test file (not a virus; every engine reports it).
    static let eicar = #"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"#

    init() throws {
        directory = try Harness.makeTempDirectory("clamd")
        try FileManager.default.createDirectory(atPath: directory + "/db", withIntermediateDirectories: true)
        let md5 = try Harness.run(try Harness.tool("md5sum"), [], input: Clamd.eicar).1.prefix(32)
        try "\(md5):\(Clamd.eicar.utf8.count):Eicar-Test-Signature\n".write(toFile: directory + "/db/lazaret-test.hdb", atomically: true, encoding: .utf8)
        try """
            LocalSocket \(directory)/clamd.sock
            DatabaseDirectory \(directory)/db
            Foreground yes
            LogFile \(directory)/clamd.log
            PidFile \(directory)/clamd.pid
            StreamMaxLength 25M
            AlertEncrypted yes
            User root

            """.write(toFile: directory + "/clamd.conf", atomically: true, encoding: .utf8)
        try start()
    }

    func start() throws {
        let process = try Background(try Harness.tool("clamd"), ["-c", directory + "/clamd.conf"], logPath: directory + "/stdout.log")
        background = process
        try Harness.waitUntil("clamd answering PING on \(socketPath) (output: \(process.output))", seconds: 120) {
            if !process.process.isRunning { throw Harness.Failure("clamd exited: \(process.output)") }
            return Clamd.ping(socketPath)
        }
    }

    func stop() {
        background?.kill9()
        background = nil
        try? FileManager.default.removeItem(atPath: socketPath)
    }

    /// A blocking `zPING` over the local socket.
    static func ping(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { return false }
        let request = Array("zPING\0".utf8)
        guard write(fd, request, request.count) == request.count else { return false }
        var reply = [UInt8](repeating: 0, count: 16)
        let n = read(fd, &reply, reply.count)
        return n >= 4 && String(decoding: reply[0..<4], as: UTF8.self) == "PONG"
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
