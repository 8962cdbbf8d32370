#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import X509

/// Checks and converts the names that go into certificates: host names for
/// `dNSName` SANs, IPv4/IPv6 literals for `iPAddress` SANs, and the common
/// name. Shared by the CPQ CA and the gateway's self-signed STARTTLS
/// certificate.
public enum CertificateNames {
    /// Longest common name X.520 allows (`ub-common-name`).
    public static let maximumCommonNameLength = 64

    /// The 4 or 16 address bytes of an IPv4 or IPv6 literal, or nil.
    public static func addressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    /// The text form of 4 or 16 address bytes (as `inet_ntop` writes it).
    public static func addressText(_ bytes: some Collection<UInt8>) -> String? {
        let bytes = Array(bytes)
        let family: Int32
        switch bytes.count {
        case 4: family = AF_INET
        case 16: family = AF_INET6
        default: return nil
        }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let ok = bytes.withUnsafeBytes { raw in
            inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil
        }
        guard ok else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether `name` is a host name a `dNSName` SAN may hold: dot-separated
    /// labels of letters, digits and hyphens (underscores allowed too, as
    /// internal names use them), each 1...63 long, at most 253 in all.
    public static func isHostName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 253, addressBytes(name) == nil else { return false }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            guard (1...63).contains(label.utf8.count), label.first != "-", label.last != "-" else { return false }
            return label.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                    || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
            }
        }
    }

    /// SubjectAlternativeNames entries for `dnsNames` and `ipAddresses`; throws
    /// ``CPQTLSError/Code/invalidName`` naming the first unusable entry.
    public static func generalNames(dnsNames: [String], ipAddresses: [String]) throws -> [GeneralName] {
        var names: [GeneralName] = []
        for name in dnsNames {
            guard isHostName(name) else {
                throw CPQTLSError(.invalidName, "\"\(name)\" is not a host name for a certificate (letters, digits, hyphens and dots)")
            }
            names.append(.dnsName(name))
        }
        for address in ipAddresses {
            guard let bytes = addressBytes(address) else {
                throw CPQTLSError(.invalidName, "\"\(address)\" is not an IPv4 or IPv6 address")
            }
            names.append(.ipAddress(.init(contentBytes: bytes[...])))
        }
        return names
    }

    /// Checks a common name: 1...64 characters, no control characters.
    public static func checkCommonName(_ name: String) throws {
        guard !name.isEmpty, name.count <= maximumCommonNameLength,
              !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw CPQTLSError(.invalidName, "\"\(name)\" cannot be a certificate common name (1 to \(maximumCommonNameLength) characters, no control characters)")
        }
    }
}

extension Certificate {
    /// The first common name of the subject.
    var commonName: String? {
        for rdn in subject {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                if let text = String(attribute.value) { return text }
            }
        }
        return nil
    }

    /// The dNSName and iPAddress SANs, as text.
    var alternativeNames: (dnsNames: [String], ipAddresses: [String]) {
        var dns: [String] = []
        var ips: [String] = []
        if let names = try? extensions.subjectAlternativeNames {
            for name in names {
                switch name {
                case .dnsName(let host): dns.append(host)
                case .ipAddress(let octets): if let text = CertificateNames.addressText(octets.bytes) { ips.append(text) }
                default: break
                }
            }
        }
        return (dns, ips)
    }

    var derBytes: [UInt8] {
        get throws { try serializeAsPEM().derBytes }
    }
}
