#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import NIOConcurrencyHelpers

/// Hands out MIDs, ICIDs and DCIDs that never repeat across restarts, without a sync per id.
///
/// The `ids` file holds, per kind, a reserved high-water mark: every id ever handed out is
/// at most that mark. Before handing out an id beyond the mark, a new mark (a block of
/// `blockSize` more) is written durably (write temp + fsync + rename + fsync directory).
/// After a restart counting resumes above the stored marks, so ids may skip but never repeat.
final class SpoolIDAllocator: Sendable {
    enum Kind: String, CaseIterable, Sendable {
        case mid, icid, dcid
    }

    private struct State {
        /// The last id handed out per kind.
        var last: [Kind: UInt64]
        /// The durable reserved mark per kind.
        var reserved: [Kind: UInt64]
    }

    private let state: NIOLockedValueBox<State>
    private let path: String
    private let directory: String
    private let directoryFD: Int32
    private let blockSize: UInt64
    private let logger: Logger

    /// Loads the marks from `directory/ids`; `minimumMID` is the highest MID found in the journal.
    init(directory: String, directoryFD: Int32, blockSize: UInt64, minimumMID: UInt64, logger: Logger) throws {
        self.path = directory + "/ids"
        self.directory = directory
        self.directoryFD = directoryFD
        self.blockSize = blockSize
        self.logger = logger
        var marks: [Kind: UInt64] = [.mid: 0, .icid: 0, .dcid: 0]
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            defer { _ = SpoolFiles.closeFD(fd) }
            let size = try SpoolFiles.fileSize(fd, path: path)
            let buffer = try SpoolFiles.readExactly(fd, offset: 0, length: size, path: path)
            let text = String(buffer: buffer)
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: " ")
                guard fields.count == 2, let kind = Kind(rawValue: String(fields[0])), let value = UInt64(fields[1]) else {
                    throw SpoolError(.open, "\(path) has an unreadable line \"\(line)\"; restore it from a backup, or write \"mid N\", \"icid N\", \"dcid N\" lines with N above any id used before")
                }
                marks[kind] = value
            }
        } else if errno != ENOENT {
            throw SpoolError(.open, "cannot open \(path): \(SpoolFiles.errnoText())")
        }
        var last = marks
        last[.mid] = max(marks[.mid]!, minimumMID)
        self.state = NIOLockedValueBox(State(last: last, reserved: marks))
    }

    func next(_ kind: Kind) -> UInt64 {
        state.withLockedValue { state in
            let id = state.last[kind]! + 1
            if id > state.reserved[kind]! {
                var reserved = state.reserved
                reserved[kind] = id - 1 + blockSize
                do {
                    try write(reserved)
                    state.reserved = reserved
                } catch {
                    // The id is still handed out: the journal's highest MID protects stored
                    // messages, and refusing ids would stop all mail. Say so loudly.
                    logger.critical("cannot persist id reservation: \(error); ids may repeat after a crash until this is fixed")
                }
            }
            state.last[kind] = id
            return id
        }
    }

    private func write(_ marks: [Kind: UInt64]) throws {
        let text = Kind.allCases.map { "\($0.rawValue) \(marks[$0]!)\n" }.joined()
        try SpoolFiles.writeFileAtomically(text, to: path, directoryFD: directoryFD, directory: directory)
    }
}
