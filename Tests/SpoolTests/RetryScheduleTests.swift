import Testing
@testable import Spool

@Suite struct RetryScheduleTests {
    @Test func backoffDoublesUpToTheCap() {
        let schedule = RetrySchedule(initial: 60, maximum: 600, factor: 2)
        #expect(schedule.delay(afterAttempt: 1) == 60)
        #expect(schedule.delay(afterAttempt: 2) == 120)
        #expect(schedule.delay(afterAttempt: 3) == 240)
        #expect(schedule.delay(afterAttempt: 4) == 480)
        #expect(schedule.delay(afterAttempt: 5) == 600)
        #expect(schedule.delay(afterAttempt: 1000) == 600)
    }
}
