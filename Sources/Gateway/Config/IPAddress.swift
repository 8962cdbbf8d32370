/// A parsed IPv4 or IPv6 address, compared by value.
///
/// The HAT matches connections on numeric values, never on string prefixes:
/// `10.1.2.3`, `::ffff:10.1.2.3` (an IPv4-mapped address from a dual-stack
/// socket) and `010.1.2.3` are not all the same text, but the first two are
/// the same host, and the third is refused as ambiguous.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    /// The 128 bits as two halves, most significant first.
    case v6(high: UInt64, low: UInt64)

    /// Parses dotted-quad IPv4 or RFC 4291 §2.2 IPv6 text (with `::`, an
    /// embedded IPv4 tail, and an optional `%zone` which is dropped).
    /// Returns nil for anything else, including leading zeros in IPv4 octets.
    public init?(_ text: some StringProtocol) {
        if text.contains(":") {
            var body = Substring(text)
            if let percent = body.firstIndex(of: "%") { body = body[..<percent] }
            guard let (high, low) = IPAddress.parseV6(body) else { return nil }
            self = .v6(high: high, low: low)
        } else {
            guard let value = IPAddress.parseV4(Substring(text)) else { return nil }
            self = .v4(value)
        }
    }

    /// Number of bits: 32 or 128.
    public var bitWidth: Int {
        switch self {
        case .v4: 32
        case .v6: 128
        }
    }

    /// The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`),
    /// or the address itself.
    public var unmapped: IPAddress {
        if case .v6(0, let low) = self, low >> 32 == 0xffff {
            return .v4(UInt32(truncatingIfNeeded: low))
        }
        return self
    }

    /// Canonical text: dotted quad, or RFC 5952 IPv6 (lower case, longest run of
    /// zeros as `::`, IPv4-mapped addresses as `::ffff:a.b.c.d`).
    public var description: String {
        switch self {
        case .v4(let value):
            return (0..<4).map { String((value >> (24 - 8 * UInt32($0))) & 0xff) }.joined(separator: ".")
        case .v6(0, let low) where low >> 32 == 0xffff:
            return "::ffff:" + IPAddress.v4(UInt32(truncatingIfNeeded: low)).description
        case .v6(let high, let low):
            let groups: [UInt16] = (0..<8).map { index in
                let half = index < 4 ? high : low
                return UInt16(truncatingIfNeeded: half >> (48 - 16 * UInt64(index % 4)))
            }
            // Longest run of at least two zero groups (RFC 5952 §4.2.2, §4.2.3).
            var bestStart = -1, bestLength = 0, runStart = -1
            for index in 0...8 {
                if index < 8 && groups[index] == 0 {
                    if runStart < 0 { runStart = index }
                } else if runStart >= 0 {
                    if index - runStart > bestLength { bestStart = runStart; bestLength = index - runStart }
                    runStart = -1
                }
            }
            let hex = groups.map { String($0, radix: 16) }
            guard bestLength >= 2 else { return hex.joined(separator: ":") }
            let head = hex[..<bestStart].joined(separator: ":")
            let tail = hex[(bestStart + bestLength)...].joined(separator: ":")
            return head + "::" + tail
        }
    }

    /// True when the first `prefixLength` bits of both addresses are equal
    /// (both must be the same family).
    func sharesPrefix(with other: IPAddress, length prefixLength: Int) -> Bool {
        switch (self, other) {
        case (.v4(let a), .v4(let b)):
            guard prefixLength > 0 else { return true }
            let mask: UInt32 = prefixLength >= 32 ? .max : ~(UInt32.max >> UInt32(prefixLength))
            return a & mask == b & mask
        case (.v6(let ah, let al), .v6(let bh, let bl)):
            func masked(_ value: UInt64, bits: Int) -> UInt64 {
                if bits <= 0 { return 0 }
                if bits >= 64 { return value }
                return value & ~(UInt64.max >> UInt64(bits))
            }
            return masked(ah, bits: prefixLength) == masked(bh, bits: prefixLength)
                && masked(al, bits: prefixLength - 64) == masked(bl, bits: prefixLength - 64)
        default:
            return false
        }
    }

    static func parseV4(_ text: Substring) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard let octet = parseOctet(part) else { return nil }
            value = value << 8 | UInt32(octet)
        }
        return value
    }

    /// A decimal 0...255 without sign or leading zeros.
    static func parseOctet(_ text: Substring) -> UInt8? {
        guard (1...3).contains(text.count), text.allSatisfy({ $0.isASCII && $0.isNumber }),
              text == "0" || text.first != "0",
              let value = UInt8(text)
        else { return nil }
        return value
    }

    static func parseV6(_ text: Substring) -> (UInt64, UInt64)? {
        var groups: [UInt16] = []
        var gapIndex: Int?
        // Split around a single "::".
        let gaps = text.ranges(of: "::")
        guard gaps.count <= 1 else { return nil }
        let pieces: [String] = gaps.first.map { [String(text[..<$0.lowerBound]), String(text[$0.upperBound...])] }
            ?? [String(text)]

        func parseGroups(_ part: String, allowIPv4Tail: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result: [UInt16] = []
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, field) in fields.enumerated() {
                if allowIPv4Tail && index == fields.count - 1 && field.contains(".") {
                    guard let v4 = parseV4(field) else { return nil }
                    result.append(UInt16(v4 >> 16))
                    result.append(UInt16(v4 & 0xffff))
                } else {
                    guard (1...4).contains(field.count), field.allSatisfy(\.isHexDigit),
                          let value = UInt16(field, radix: 16)
                    else { return nil }
                    result.append(value)
                }
            }
            return result
        }

        if pieces.count == 2 {
            guard let head = parseGroups(pieces[0], allowIPv4Tail: false),
                  let tail = parseGroups(pieces[1], allowIPv4Tail: true),
                  head.count + tail.count <= 7
            else { return nil }
            groups = head
            gapIndex = head.count
            groups += tail
        } else {
            guard let all = parseGroups(pieces[0], allowIPv4Tail: true), all.count == 8 else { return nil }
            groups = all
        }
        if let gapIndex {
            groups.insert(contentsOf: repeatElement(0, count: 8 - groups.count), at: gapIndex)
        }
        var high: UInt64 = 0, low: UInt64 = 0
        for index in 0..<4 { high = high << 16 | UInt64(groups[index]) }
        for index in 4..<8 { low = low << 16 | UInt64(groups[index]) }
        return (high, low)
    }
}

/// An address block in CIDR notation, `192.168.0.0/16` or `2001:db8::/32`.
public struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
    /// The address as written (host bits may be set; they are ignored when matching).
    public var address: IPAddress
    public var prefixLength: Int

    /// Parses `address/length`; nil when either half is invalid or the
    /// length exceeds the address width.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPAddress(parts[0]),
              (1...3).contains(parts[1].count), parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
              let length = Int(parts[1]), length <= address.bitWidth
        else { return nil }
        self.address = address
        self.prefixLength = length
    }

    public init(address: IPAddress, prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }

    /// True when `other` lies inside this block. IPv4-mapped IPv6 addresses
    /// match IPv4 blocks.
    public func contains(_ other: IPAddress) -> Bool {
        let candidate = address.bitWidth == 32 ? other.unmapped : other
        return address.sharesPrefix(with: candidate, length: prefixLength)
    }

    public var description: String { "\(address)/\(prefixLength)" }
}
