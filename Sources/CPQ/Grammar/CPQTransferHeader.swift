/// The fields of `XCPQ TRANSFER` (docs/CPQ.md, "Transfer").
public struct CPQTransferHeader: Hashable, Sendable {
    /// Unique per gateway; a retried transfer with a stored id stores nothing new.
    /// `[A-Za-z0-9._-]`, 1–64.
    public var transferID: String
    /// `GATEWAY`: the gateway's name, which must be the one in its certificate.
    public var gateway: String
    /// `MID`: the message id on the gateway (below 2^63).
    public var mid: UInt64
    /// `ICID`: the injection connection id on the gateway (below 2^63).
    public var icid: UInt64
    /// `RECEIVED`: when the gateway received the message, seconds since 1970.
    public var received: Int64

    public init(transferID: String, gateway: String, mid: UInt64, icid: UInt64, received: Int64) {
        self.transferID = transferID
        self.gateway = gateway
        self.mid = mid
        self.icid = icid
        self.received = received
    }
}
