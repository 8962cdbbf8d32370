import Foundation

/// `tail mail_logs [N]` and `grep PATTERN mail_logs`: bounded reads of the role's mail_logs
/// file. Reads at most `maxScanBytes` from the end of the file, so a huge log never
/// stalls the control socket.
public struct MailLogReader: Sendable {
    /// Lines `tail` prints by default.
    public static let defaultTailLines = 20
    /// Most lines `tail` and `grep` print.
    public static let maxLines = 1000
    /// Most bytes read from the end of the file (16 MiB).
    public static let maxScanBytes = 16 << 20

    public let path: String
    public var maxScanBytes: Int

    public init(path: String, maxScanBytes: Int = MailLogReader.maxScanBytes) {
        self.path = path
        self.maxScanBytes = maxScanBytes
    }

    /// The last `count` lines, oldest first.
    public func tail(_ count: Int) throws -> [String] {
        let lines = try recentLines()
        return Array(lines.suffix(count))
    }

    /// The last `limit` lines that match `pattern` (a regular expression, case-insensitive),
    /// oldest first, and whether more lines matched than were returned.
    public func grep(_ pattern: String, limit: Int) throws -> (lines: [String], truncated: Bool) {
        let expression: NSRegularExpression
        do {
            expression = try NSRegularExpression(pattern: pattern, options: [.caseInsensitive])
        } catch {
            throw CommandArgumentError("grep: \"\(pattern)\" is not a regular expression (\(error.localizedDescription)); quote it, or escape special characters with \\")
        }
        let matching = try recentLines().filter { line in
            expression.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)) != nil
        }
        return (Array(matching.suffix(limit)), matching.count > limit)
    }

    /// The lines in the last `maxScanBytes` of the file (a cut first line dropped).
    private func recentLines() throws -> [String] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CommandArgumentError("mail_logs: cannot read \(path) (no such file yet, or no permission)")
        }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        let start = size > UInt64(maxScanBytes) ? size - UInt64(maxScanBytes) : 0
        try handle.seek(toOffset: start)
        let data = try handle.readToEnd() ?? Data()
        var lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        if start > 0, !lines.isEmpty { lines.removeFirst() }
        return lines
    }
}
