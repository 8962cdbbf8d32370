import Foundation
import NIOConcurrencyHelpers
import NIOCore
import QuarantineStore
import Spool

/// The spool behind `the.cpq.release.host`: the quarantine store itself. A release on the
/// queue is a ``ReleaseRequest`` (durable in the store, `queued`) under a MID that lives as
/// long as the process; its body is read from the store, and its outcome is written back
/// there: accepted by the gateway (`markReleaseAccepted`; the body stays until retention), refused
/// (the queue's bounce handler calls `markReleaseFailed`), or deleted from the queue by an
/// administrator. After a restart the store's pending releases are queued again under new
/// MIDs; the release ids stay, so the gateway takes each one once.
final class ReleaseSpool: MessageSpool {
    private struct State {
        var nextMID: MID = 1
        var nextDCID: UInt64 = 1
        var requests: [MID: ReleaseRequest] = [:]
        var mids: [String: MID] = [:]
    }

    private let store: QuarantineStore
    private let state = NIOLockedValueBox(State())

    /// Told which quarantines hold a release again after an administrator deleted it from
    /// the queue (for mail_logs).
    private let onReturned: (@Sendable (ReleaseRequest, [String]) -> Void)?

    init(store: QuarantineStore, onReturned: (@Sendable (ReleaseRequest, [String]) -> Void)? = nil) {
        self.store = store
        self.onReturned = onReturned
    }

    /// Puts a release on the queue's books; nil when it is there already.
    func register(_ request: ReleaseRequest) -> MID? {
        state.withLockedValue { state in
            guard state.mids[request.releaseID] == nil else { return nil }
            let mid = state.nextMID
            state.nextMID += 1
            state.requests[mid] = request
            state.mids[request.releaseID] = mid
            return mid
        }
    }

    func request(_ mid: MID) -> ReleaseRequest? {
        state.withLockedValue { $0.requests[mid] }
    }

    func isQueued(releaseID: String) -> Bool {
        state.withLockedValue { $0.mids[releaseID] != nil }
    }

    /// Takes a release off the books (its outcome is recorded, or it could not be queued).
    func forget(_ mid: MID) {
        state.withLockedValue { state in
            if let request = state.requests.removeValue(forKey: mid) { state.mids[request.releaseID] = nil }
        }
    }

    // MARK: MessageSpool

    func nextMID() -> MID { state.withLockedValue { state in defer { state.nextMID += 1 }; return state.nextMID } }
    func nextICID() -> UInt64 { 0 }
    func nextDCID() -> UInt64 { state.withLockedValue { state in defer { state.nextDCID += 1 }; return state.nextDCID } }

    func store(_ envelope: MessageEnvelope, body: ByteBuffer) async throws {
        throw ManagerError("the release queue takes releases from the quarantine store only")
    }

    /// The stored message, changed by the release's options (subject tag, added header,
    /// attachments stripped) when it was released before expiry from quarantines that have
    /// them. When they cannot be applied (a MIME structure beyond the parser's limits) the
    /// release is not sent as it is: it stays queued with the reason in mail_logs, until it
    /// expires on the queue (recorded as failed) or an administrator deletes it.
    func body(of mid: MID) async throws -> ByteBuffer {
        guard let request = request(mid) else { throw ManagerError("MID \(mid) is not a queued release") }
        let body = try await store.body(request.qid)
        guard !request.options.isEmpty else { return ByteBuffer(bytes: body) }
        do {
            return ByteBuffer(bytes: try request.options.apply(to: body))
        } catch {
            throw ManagerError("release \(request.releaseID) of QID \(request.qid): its quarantines' release options cannot be applied (\(error.field): \(error.reason)); it is not sent unchanged")
        }
    }

    func record(_ outcome: RecipientOutcome, mid: MID, recipients: [Int]) async throws {
        guard let request = request(mid) else { return }
        switch outcome {
        case .delivered:
            // The gateway answered 250: the queue's attempt observer records it with the MID the
            // gateway gave, right after this (one write, not two). Should the manager die in
            // between, the release is still pending in the store, is sent again at start, and
            // the gateway answers "already queued" from its ledger.
            break
        case .bounced, .expired:
            break  // the bounce handler recorded the failure before this
        case .deleted:
            // Taken off the queue by an administrator (`deleterecipients`): not lost, held again.
            let quarantines = try await store.returnToQuarantine(releaseID: request.releaseID,
                                                                 reply: "deleted from the.cpq.release.host by an administrator")
            onReturned?(request, quarantines)
        }
        forget(mid)
    }
}
