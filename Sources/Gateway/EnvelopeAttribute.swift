import Foundation
import Scanning
import Spool

/// The envelope attributes the gateway keeps with each message in the spool.
enum EnvelopeAttribute {
    /// The next pipeline stage to run (`PipelineStage` raw value); absent or
    /// `delivery` = ready for its delivery queue.
    static let pipeline = "pipeline"
    /// The HAT sender group the connection matched (for the `sendergroup` condition).
    static let senderGroup = "sendergroup"
    /// The mail policy that applied.
    static let policy = "policy"
    /// JSON array of `QuarantineTicket`s: the quarantines the message is held in.
    static let quarantines = "quarantines"
    /// For generated mail (DSN, notification, quarantine copy): the MID it came from.
    static let origin = "origin"
    /// For mail the manager released (over the cpq_listener): the release id. Every
    /// delivery outcome of such a message is reported back to the manager.
    static let release = "release"
    /// For released mail: the manager's QID of it.
    static let releaseQID = "release-qid"

    static func forNewMessage(senderGroup: String?) -> [String: String] {
        var attributes = [pipeline: PipelineStage.messageFilters.rawValue]
        if let senderGroup { attributes[Self.senderGroup] = senderGroup }
        return attributes
    }

    static func nextStage(_ envelope: MessageEnvelope) -> PipelineStage? {
        envelope.attributes[pipeline].flatMap(PipelineStage.init(rawValue:))
    }

    static func tickets(_ envelope: MessageEnvelope) -> [QuarantineTicket] {
        guard let json = envelope.attributes[quarantines]?.data(using: .utf8) else { return [] }
        return (try? JSONDecoder().decode([QuarantineTicket].self, from: json)) ?? []
    }

    static func encode(_ tickets: [QuarantineTicket]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(tickets)) ?? Data("[]".utf8), as: UTF8.self)
    }
}
