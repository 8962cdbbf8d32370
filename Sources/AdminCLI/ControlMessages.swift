import Foundation

/// One command sent over the control socket: the words an admin typed, e.g.
/// `["quarantine", "release", "QK7XW2M4PA3RT5BNE", "--from", "Policy"]`.
///
/// On the wire: one JSON object on one line, `{"args":["quarantine","list"]}\n`.
public struct ControlRequest: Codable, Hashable, Sendable {
    public var args: [String]

    public init(args: [String]) {
        self.args = args
    }
}

/// The answer to a `ControlRequest`: `ok` and the text to show the admin. When `ok` is
/// false, `output` is the error message, which says what to do.
///
/// On the wire: one JSON object on one line, `{"ok":true,"output":"..."}\n`; then the
/// server closes the connection.
public struct ControlResponse: Codable, Hashable, Sendable {
    public var ok: Bool
    public var output: String

    public init(ok: Bool, output: String) {
        self.ok = ok
        self.output = output
    }

    /// A successful answer with `output`.
    public static func success(_ output: String) -> ControlResponse {
        ControlResponse(ok: true, output: output)
    }

    /// A refusal or failure; `message` says what went wrong and what to do.
    public static func failure(_ message: String) -> ControlResponse {
        ControlResponse(ok: false, output: message)
    }
}

/// Encoding and decoding of the control protocol's JSON lines. Pure: no I/O.
public enum ControlWire {
    /// Largest request accepted, newline included (64 KiB).
    public static let maxRequestBytes = 64 << 10
    /// Largest response a client reads (64 MiB: a full page of `quarantine list` is far less).
    public static let maxResponseBytes = 64 << 20

    /// `value` as one line of JSON, terminated by `\n`.
    public static func encodeLine<Value: Encodable>(_ value: Value) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // JSONEncoder escapes control characters, so the line holds no raw newline.
        let data = (try? encoder.encode(value)) ?? Data(#"{"ok":false,"output":"the answer could not be encoded"}"#.utf8)
        return Array(data) + [UInt8(ascii: "\n")]
    }

    /// The request in `line` (without its newline), or a response that says why it is not one.
    public static func decodeRequest(_ line: [UInt8]) -> Result<ControlRequest, ControlError> {
        do {
            return .success(try JSONDecoder().decode(ControlRequest.self, from: Data(line)))
        } catch {
            return .failure(ControlError(.malformedRequest,
                "malformed request: expected one line of JSON like {\"args\":[\"help\"]} (\(Self.describe(error)))"))
        }
    }

    /// The response in `bytes` (one JSON line; the trailing newline is optional).
    public static func decodeResponse(_ bytes: [UInt8]) throws -> ControlResponse {
        var line = bytes[...]
        while let last = line.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { line = line.dropLast() }
        guard !line.isEmpty else {
            throw ControlError(.malformedResponse, "the control socket closed without an answer; see the server's log")
        }
        do {
            return try JSONDecoder().decode(ControlResponse.self, from: Data(line))
        } catch {
            throw ControlError(.malformedResponse, "the answer on the control socket is not a control response (\(Self.describe(error))); is it a Lazaret control socket?")
        }
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context): context.debugDescription
        case DecodingError.keyNotFound(let key, _): "no \"\(key.stringValue)\" field"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            "\"\(context.codingPath.map(\.stringValue).joined(separator: "."))\" has the wrong type"
        default: "\(error)"
        }
    }
}
