import Foundation
/// Rows of text in aligned columns, as `tophosts` or `quarantine list` print them.
public struct TextTable: Hashable, Sendable {
    public var header: [String]
    public private(set) var rows: [[String]] = []
    /// Longest cell shown in characters; longer cells end in `…`.
    public var maxCellWidth: Int

    public init(_ header: [String], maxCellWidth: Int = 40) {
        self.header = header
        self.maxCellWidth = maxCellWidth
    }

    public mutating func append(_ row: [String]) {
        rows.append(row)
    }

    /// The table: the header, then one line per row; columns two spaces apart, no
    /// trailing spaces.
    public func render() -> String {
        let cells = ([header] + rows).map { row in row.map(clip) }
        let columns = cells.map(\.count).max() ?? 0
        var widths = Array(repeating: 0, count: columns)
        for row in cells {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        return cells.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    private func clip(_ cell: String) -> String {
        let flat = cell.replacing("\r", with: " ").replacing("\n", with: " ").replacing("\t", with: " ")
        return flat.count > maxCellWidth ? String(flat.prefix(maxCellWidth - 1)) + "…" : flat
    }

    /// Control characters (a newline in a detail) shown escaped, so a row stays one line.
    public static func printable(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F: out += String(format: "\\x%02X", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
