import Testing
@testable import Scanning

@Suite struct FilterParserTests {
    @Test func emptyInputIsValid() throws {
        #expect(try FilterSet.parse("").names == [])
    }
}
