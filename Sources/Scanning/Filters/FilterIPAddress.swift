/// An IPv4 or IPv6 address for `remote-ip` conditions, compared by value.
struct FilterIPAddress: Hashable, Sendable, CustomStringConvertible {
    enum Family: Hashable, Sendable {
        case v4
        case v6
    }

    var family: Family
    /// The most significant 64 bits (always 0 for IPv4).
    var high: UInt64
    /// The least significant 64 bits (the 32-bit value for IPv4).
    var low: UInt64

    var bitWidth: Int { family == .v4 ? 32 : 128 }

    /// Parses a dotted quad (no leading zeros) or RFC 4291 §2.2 IPv6 text,
    /// with `::`, an IPv4 tail, optional brackets and an optional `%zone`
    /// (dropped). Nil for anything else.
    init?(_ text: some StringProtocol) {
        var body = Substring(text)
        if body.hasPrefix("["), body.hasSuffix("]") { body = body.dropFirst().dropLast() }
        if body.contains(":") {
            if let percent = body.firstIndex(of: "%") { body = body[..<percent] }
            guard let (high, low) = Self.parseV6(body) else { return nil }
            self.init(family: .v6, high: high, low: low)
        } else {
            guard let value = Self.parseV4(body) else { return nil }
            self.init(family: .v4, high: 0, low: UInt64(value))
        }
    }

    init(family: Family, high: UInt64, low: UInt64) {
        self.family = family
        self.high = high
        self.low = low
    }

    /// The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), or the address itself.
    var unmapped: FilterIPAddress {
        if family == .v6, high == 0, low >> 32 == 0xffff {
            return FilterIPAddress(family: .v4, high: 0, low: low & 0xffff_ffff)
        }
        return self
    }

    /// The address with all but the first `prefixLength` bits cleared.
    func masked(to prefixLength: Int) -> FilterIPAddress {
        func mask(_ value: UInt64, keeping bits: Int) -> UInt64 {
            if bits <= 0 { return 0 }
            if bits >= 64 { return value }
            return value & ~(UInt64.max >> UInt64(bits))
        }
        switch family {
        case .v4:
            return FilterIPAddress(family: .v4, high: 0, low: mask(low << 32, keeping: prefixLength) >> 32)
        case .v6:
            return FilterIPAddress(family: .v6, high: mask(high, keeping: prefixLength), low: mask(low, keeping: prefixLength - 64))
        }
    }

    /// True when the address lies in `network/prefixLength`. An IPv4-mapped
    /// IPv6 address is in the IPv4 networks of its IPv4 form (and in `::ffff:0:0/96`).
    func isInside(_ network: FilterIPAddress, prefixLength: Int) -> Bool {
        let address = network.family == .v4 ? unmapped : self
        return address.family == network.family && address.masked(to: prefixLength) == network.masked(to: prefixLength)
    }

    var description: String {
        switch family {
        case .v4:
            return (0..<4).map { String((low >> (24 - 8 * UInt64($0))) & 0xff) }.joined(separator: ".")
        case .v6:
            let groups: [UInt16] = (0..<8).map { index in
                UInt16(truncatingIfNeeded: (index < 4 ? high : low) >> (48 - 16 * UInt64(index % 4)))
            }
            var best = (start: 0, length: 0)
            var index = 0
            while index < 8 {
                var end = index
                while end < 8, groups[end] == 0 { end += 1 }
                if end - index > best.length { best = (index, end - index) }
                index = end + 1
            }
            let hex = groups.map { String($0, radix: 16) }
            guard best.length >= 2 else { return hex.joined(separator: ":") }
            return hex[..<best.start].joined(separator: ":") + "::" + hex[(best.start + best.length)...].joined(separator: ":")
        }
    }

    static func parseV4(_ text: Substring) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard (1...3).contains(part.utf8.count), part.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  part == "0" || part.first != "0", let octet = UInt8(part)
            else { return nil }
            value = value << 8 | UInt32(octet)
        }
        return value
    }

    static func parseV6(_ text: Substring) -> (UInt64, UInt64)? {
        func groups(_ part: Substring) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result: [UInt16] = []
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if index == pieces.count - 1, piece.contains(".") {
                    guard let v4 = parseV4(piece) else { return nil }
                    result.append(UInt16(v4 >> 16))
                    result.append(UInt16(v4 & 0xffff))
                } else {
                    guard (1...4).contains(piece.utf8.count), let group = UInt16(piece, radix: 16) else { return nil }
                    result.append(group)
                }
            }
            return result
        }
        let halves = text.split(separator: "::", maxSplits: 2, omittingEmptySubsequences: false)
        var all: [UInt16]
        switch halves.count {
        case 1:
            guard let only = groups(text), only.count == 8 else { return nil }
            all = only
        case 2:
            guard let head = groups(halves[0]), let tail = groups(halves[1]), head.count + tail.count <= 7,
                  !halves[0].contains("."), !halves[0].hasSuffix(":"), !halves[1].hasPrefix(":")
            else { return nil }
            all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        default:
            return nil
        }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (index, group) in all.enumerated() {
            if index < 4 { high = high << 16 | UInt64(group) } else { low = low << 16 | UInt64(group) }
        }
        return (high, low)
    }
}
