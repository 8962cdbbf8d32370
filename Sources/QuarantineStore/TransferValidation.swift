import Foundation
import Scanning

/// A validated transfer, ready for its transaction: every column value computed
/// (JSON, header summary, resume stage), so the writer only binds them.
struct PreparedTransfer: Sendable {
    var transfer: IncomingTransfer
    var body: Data
    var recipientsJSON: String
    var headers: HeaderSummary
    /// Header and body text for the full-text index, extracted before the writer runs.
    var searchText: SearchableText
}

enum TransferValidation {
    /// Checks `transfer` and `body` against `options`; throws `.invalidTransfer` naming the
    /// transfer, the field and the limit, so the gateway's log says what to fix.
    static func prepare(_ transfer: IncomingTransfer, body: [UInt8],
                        options: QuarantineStoreOptions) throws -> PreparedTransfer {
        func fail(_ problem: String) -> QuarantineStoreError {
            QuarantineStoreError(.invalidTransfer,
                                 "transfer \(quoted(transfer.transferID)) from gateway \(quoted(transfer.gateway)): \(problem)")
        }
        try checkName(transfer.transferID, "transfer id", fail)
        try checkName(transfer.gateway, "gateway name", fail)
        guard transfer.gatewayMID <= UInt64(Int64.max) else { throw fail("gateway MID \(transfer.gatewayMID) is out of range") }
        if let icid = transfer.gatewayICID, icid > UInt64(Int64.max) { throw fail("gateway ICID \(icid) is out of range") }
        guard transfer.receivedAt.timeIntervalSince1970.isFinite else { throw fail("received time is not a valid time") }
        if let problem = problem(transfer.mailFrom, allowEmpty: true) { throw fail("the sender \(problem)") }

        guard !transfer.recipients.isEmpty else { throw fail("there are no recipients") }
        guard transfer.recipients.count <= options.maxRecipients else {
            throw fail("\(transfer.recipients.count) recipients, more than the limit of \(options.maxRecipients)")
        }
        for (index, recipient) in transfer.recipients.enumerated() {
            if let problem = problem(recipient, allowEmpty: false) { throw fail("recipient \(index + 1) \(problem)") }
        }

        guard !transfer.holds.isEmpty else { throw fail("no quarantine named: a transfer holds the message in at least one") }
        guard transfer.holds.count <= options.maxHolds else {
            throw fail("\(transfer.holds.count) quarantines, more than the limit of \(options.maxHolds) per message")
        }
        var seen: Set<String> = []
        for (index, hold) in transfer.holds.enumerated() {
            let which = "quarantine \(index + 1)"
            if let problem = problem(hold.quarantine, allowEmpty: false) {
                throw fail(hold.quarantine.isEmpty ? "\(which) has an empty name" : "\(which) name \(problem)")
            }
            guard seen.insert(hold.quarantine).inserted else {
                throw fail("quarantine \(quoted(hold.quarantine)) is named twice")
            }
            if let problem = problem(hold.reason.detail, allowEmpty: true) {
                throw fail("the reason for quarantine \(quoted(hold.quarantine)) \(problem)")
            }
            if let level = hold.reason.threatLevel, !(1...5).contains(level) {
                throw fail("threat level \(level) for quarantine \(quoted(hold.quarantine)) is not 1-5")
            }
            if let seconds = hold.retentionSeconds, seconds <= 0 || seconds > 100 * 365 * 86_400 {
                throw fail("retention \(seconds) s for quarantine \(quoted(hold.quarantine)) is not a positive number of seconds up to 100 years")
            }
        }

        guard !body.isEmpty else { throw fail("the message body is empty") }
        guard body.count <= options.maxMessageBytes else {
            throw fail("the message is \(body.count) bytes, more than the limit of \(options.maxMessageBytes)")
        }

        let recipientsJSON = try jsonArray(transfer.recipients)
        return PreparedTransfer(transfer: transfer, body: Data(body), recipientsJSON: recipientsJSON,
                                headers: HeaderSummary(scanning: body), searchText: SearchableText(message: body))
    }

    private static func checkName(_ value: String, _ what: String,
                                  _ fail: (String) -> QuarantineStoreError) throws {
        if value.isEmpty { throw fail("the \(what) is empty") }
        if let problem = problem(value, allowEmpty: false) { throw fail("the \(what) \(problem)") }
    }

    /// What is wrong with a name or address for the store, or nil: empty, too long,
    /// or holding control characters (CR, LF, NUL... would break logs and SMTP).
    static func problem(_ value: String, allowEmpty: Bool) -> String? {
        if value.isEmpty { return allowEmpty ? nil : "is empty" }
        if value.utf8.count > QuarantineStoreOptions.maxNameBytes {
            return "is \(value.utf8.count) bytes long, more than \(QuarantineStoreOptions.maxNameBytes)"
        }
        if value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            return "\(quoted(value)) holds a control character"
        }
        return nil
    }

    /// Checks a user name given to release/delete.
    static func checkUser(_ user: String) throws {
        if let problem = problem(user, allowEmpty: false) {
            throw QuarantineStoreError(.invalidArgument, "the user name \(problem): name who releases or deletes")
        }
    }

    /// Checks a set of quarantine names given to release/delete (nil means all).
    static func checkQuarantines(_ quarantines: Set<String>?) throws {
        guard let quarantines else { return }
        guard !quarantines.isEmpty else {
            throw QuarantineStoreError(.invalidArgument, "no quarantine named: name at least one, or pass nil for all")
        }
        for name in quarantines {
            if let problem = problem(name, allowEmpty: false) {
                throw QuarantineStoreError(.invalidArgument, "quarantine name \(problem)")
            }
        }
    }

    static func jsonArray(_ values: [String]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return String(decoding: try encoder.encode(values), as: UTF8.self)
    }

    static func decodeJSONArray(_ text: String) throws -> [String] {
        try JSONDecoder().decode([String].self, from: Data(text.utf8))
    }
}

/// `value` in double quotes for messages, cut to 80 characters, control characters escaped.
func quoted(_ value: String) -> String {
    var shown = value.count > 80 ? String(value.prefix(80)) + "..." : value
    shown = String(shown.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) })
    return "\"\(shown)\""
}
