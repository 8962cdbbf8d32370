import Testing
@testable import Spool

@Suite struct CRC32CTests {
    @Test func knownVectors() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
    }

    @Test func chainingEqualsOneShot() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let first = bytes[0..<333].withUnsafeBytes { CRC32C.checksum($0) }
        let chained = bytes[333...].withUnsafeBytes { CRC32C.checksum($0, continuing: first) }
        #expect(chained == CRC32C.checksum(bytes))
    }
}
