import NIOCore

/// One journal record. On disk (integers big-endian):
///
/// ```
/// u32 magic "LZS1" | u32 payload length | u32 CRC-32C of (type + payload) | u8 type | payload
/// ```
///
/// A message payload is `u8 version, u64 mid, u64 icid, u64 receivedAt (IEEE bits),
/// u64 size, str listener, str remoteAddress, str heloName, str mailFrom, str destination,
/// u32 n + n × str recipients, u8 pending mode (0 = all recipients pending, 1 = list follows:
/// u32 n + n × u32 RID), [version 2: u32 n + n × (str key, str value) attributes],
/// u64 body length, body` where `str` is `u32 length + UTF-8`.
/// An outcome payload is `u64 mid, u8 outcome, u32 n + n × u32 RID`.
enum SpoolRecord {
    static let magic: UInt32 = 0x4C5A_5331  // "LZS1"
    static let headerSize = 13
    /// Offset of the type byte: the CRC covers from here to the end of the record.
    static let checksummedStart = 12
    /// Sanity bound on a payload; a larger length field is corruption.
    static let maxPayload = 1 << 31

    enum Kind: UInt8 {
        case message = 1
        case outcome = 2
        /// One message finished and replaced by zero or more new ones (the scanning
        /// pipeline's verdict: rewritten, split, quarantined, dropped...).
        case replace = 3
    }

    /// Encodes a message record; returns the record and the offset of the body inside it.
    static func encodeMessage(_ envelope: MessageEnvelope, pending: [Int]?, body: ByteBuffer,
                              allocator: ByteBufferAllocator = ByteBufferAllocator()) -> (record: ByteBuffer, bodyOffset: Int) {
        var buffer = allocator.buffer(capacity: headerSize + payloadCapacity(envelope, pending: pending, body: body))
        writeHeaderPlaceholder(&buffer, kind: .message)
        let bodyOffset = writeMessagePayload(&buffer, envelope, pending: pending, body: body)
        finish(&buffer)
        return (buffer, bodyOffset)
    }

    /// Encodes a replace record: `original` is finished and `parts` become new pending
    /// messages, atomically (one record, one checksum). Returns the body offset of each part.
    ///
    /// Payload: `u64 original mid | u32 n | n × (u32 part length + message payload)`.
    static func encodeReplace(original: MID, parts: [(envelope: MessageEnvelope, body: ByteBuffer)],
                              allocator: ByteBufferAllocator = ByteBufferAllocator()) -> (record: ByteBuffer, bodyOffsets: [Int]) {
        let capacity = parts.reduce(headerSize + 12) { $0 + 4 + payloadCapacity($1.envelope, pending: nil, body: $1.body) }
        var buffer = allocator.buffer(capacity: capacity)
        writeHeaderPlaceholder(&buffer, kind: .replace)
        buffer.writeInteger(original)
        buffer.writeInteger(UInt32(parts.count))
        var offsets: [Int] = []
        for part in parts {
            let lengthAt = buffer.writerIndex
            buffer.writeInteger(UInt32(0))
            offsets.append(writeMessagePayload(&buffer, part.envelope, pending: nil, body: part.body))
            buffer.setInteger(UInt32(buffer.writerIndex - lengthAt - 4), at: lengthAt)
        }
        finish(&buffer)
        return (buffer, offsets)
    }

    private static func payloadCapacity(_ envelope: MessageEnvelope, pending: [Int]?, body: ByteBuffer) -> Int {
        var stringBytes = 0
        for s in [envelope.listener, envelope.remoteAddress, envelope.heloName, envelope.mailFrom, envelope.destination] {
            stringBytes += 4 + s.utf8.count
        }
        for r in envelope.recipients { stringBytes += 4 + r.utf8.count }
        for (k, v) in envelope.attributes { stringBytes += 8 + k.utf8.count + v.utf8.count }
        return 1 + 32 + stringBytes + 4 + 5 + (pending?.count ?? 0) * 4 + 4 + 8 + body.readableBytes
    }

    /// Writes a message payload (format version 2); returns the offset of the body in `buffer`.
    private static func writeMessagePayload(_ buffer: inout ByteBuffer, _ envelope: MessageEnvelope, pending: [Int]?,
                                            body: ByteBuffer) -> Int {
        buffer.writeInteger(UInt8(2))
        buffer.writeInteger(envelope.mid)
        buffer.writeInteger(envelope.icid)
        buffer.writeInteger(envelope.receivedAt.bitPattern)
        buffer.writeInteger(UInt64(max(0, envelope.size)))
        for s in [envelope.listener, envelope.remoteAddress, envelope.heloName, envelope.mailFrom, envelope.destination] {
            writeString(&buffer, s)
        }
        buffer.writeInteger(UInt32(envelope.recipients.count))
        for r in envelope.recipients { writeString(&buffer, r) }
        if let pending {
            buffer.writeInteger(UInt8(1))
            buffer.writeInteger(UInt32(pending.count))
            for rid in pending { buffer.writeInteger(UInt32(rid)) }
        } else {
            buffer.writeInteger(UInt8(0))
        }
        buffer.writeInteger(UInt32(envelope.attributes.count))
        for key in envelope.attributes.keys.sorted() {
            writeString(&buffer, key)
            writeString(&buffer, envelope.attributes[key]!)
        }
        buffer.writeInteger(UInt64(body.readableBytes))
        let bodyOffset = buffer.writerIndex
        var body = body
        buffer.writeBuffer(&body)
        return bodyOffset
    }

    static func encodeOutcome(_ outcome: RecipientOutcome, mid: MID, recipients: [Int],
                              allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: headerSize + 13 + recipients.count * 4)
        writeHeaderPlaceholder(&buffer, kind: .outcome)
        buffer.writeInteger(mid)
        buffer.writeInteger(outcome.rawValue)
        buffer.writeInteger(UInt32(recipients.count))
        for rid in recipients { buffer.writeInteger(UInt32(rid)) }
        finish(&buffer)
        return buffer
    }

    private static func writeHeaderPlaceholder(_ buffer: inout ByteBuffer, kind: Kind) {
        buffer.writeInteger(magic)
        buffer.writeInteger(UInt32(0))
        buffer.writeInteger(UInt32(0))
        buffer.writeInteger(kind.rawValue)
    }

    private static func finish(_ buffer: inout ByteBuffer) {
        let start = buffer.readerIndex
        let payloadLength = buffer.readableBytes - headerSize
        buffer.setInteger(UInt32(payloadLength), at: start + 4)
        let crc = buffer.withUnsafeReadableBytes { raw in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[checksummedStart...]))
        }
        buffer.setInteger(crc, at: start + 8)
    }

    private static func writeString(_ buffer: inout ByteBuffer, _ string: String) {
        buffer.writeInteger(UInt32(string.utf8.count))
        buffer.writeString(string)
    }

    // MARK: Decoding

    struct DecodedMessage {
        var envelope: MessageEnvelope
        var pending: [Int]?
        var bodyOffset: Int
        var bodyLength: Int
    }

    enum Decoded {
        case message(envelope: MessageEnvelope, pending: [Int]?, bodyOffset: Int, bodyLength: Int)
        case replace(original: MID, parts: [DecodedMessage])
        case outcome(mid: MID, outcome: RecipientOutcome, recipients: [Int])
    }

    enum Check {
        /// A valid record of `length` bytes at the offset.
        case valid(length: Int)
        /// Fewer bytes left than the record claims or needs: a torn write, if at the end.
        case incomplete(String)
        /// Bad magic, length or checksum.
        case corrupt(String)
    }

    /// Validates framing and checksum of the record at `offset` of `file` (whose reader index is 0).
    static func check(_ file: ByteBuffer, at offset: Int) -> Check {
        let available = file.writerIndex - offset
        if available < headerSize {
            return .incomplete("\(available) bytes left, a record header needs \(headerSize)")
        }
        let magicFound = file.getInteger(at: offset, as: UInt32.self)!
        guard magicFound == magic else {
            return .corrupt("bad record magic 0x\(String(magicFound, radix: 16))")
        }
        let length = Int(file.getInteger(at: offset + 4, as: UInt32.self)!)
        guard length < maxPayload else { return .corrupt("implausible record length \(length)") }
        if available < headerSize + length {
            return .incomplete("record of \(headerSize + length) bytes, only \(available) left")
        }
        let stored = file.getInteger(at: offset + 8, as: UInt32.self)!
        let computed = file.withUnsafeReadableBytes { raw in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(offset + checksummedStart)..<(offset + headerSize + length)]))
        }
        guard stored == computed else {
            return .corrupt("checksum mismatch: stored 0x\(String(stored, radix: 16)), computed 0x\(String(computed, radix: 16))")
        }
        return .valid(length: headerSize + length)
    }

    /// Decodes a record that `check` found valid. Returns nil for a malformed payload.
    static func decode(_ file: ByteBuffer, at offset: Int, length: Int) -> Decoded? {
        guard var record = file.getSlice(at: offset, length: length) else { return nil }
        record.moveReaderIndex(forwardBy: checksummedStart)
        guard let kindByte = record.readInteger(as: UInt8.self), let kind = Kind(rawValue: kindByte) else { return nil }
        switch kind {
        case .message:
            guard let message = decodeMessagePayload(&record, base: offset + record.readerIndex) else { return nil }
            return .message(envelope: message.envelope, pending: message.pending, bodyOffset: message.bodyOffset,
                            bodyLength: message.bodyLength)
        case .replace:
            guard let original = record.readInteger(as: UInt64.self),
                  let count = record.readInteger(as: UInt32.self), Int(count) <= record.readableBytes / 4
            else { return nil }
            var parts: [DecodedMessage] = []
            for _ in 0..<count {
                guard let length = record.readInteger(as: UInt32.self) else { return nil }
                let base = offset + record.readerIndex
                guard var slice = record.readSlice(length: Int(length)),
                      let part = decodeMessagePayload(&slice, base: base) else { return nil }
                parts.append(part)
            }
            guard record.readableBytes == 0 else { return nil }
            return .replace(original: original, parts: parts)
        case .outcome:
            guard let mid = record.readInteger(as: UInt64.self),
                  let raw = record.readInteger(as: UInt8.self), let outcome = RecipientOutcome(rawValue: raw),
                  let n = record.readInteger(as: UInt32.self), Int(n) * 4 == record.readableBytes
            else { return nil }
            var rids: [Int] = []
            for _ in 0..<n { rids.append(Int(record.readInteger(as: UInt32.self)!)) }
            return .outcome(mid: mid, outcome: outcome, recipients: rids)
        }
    }

    /// Decodes a message payload (versions 1 and 2) that fills `record` to its end;
    /// `base` is the file offset of the record's reader index.
    private static func decodeMessagePayload(_ record: inout ByteBuffer, base: Int) -> DecodedMessage? {
        let start = record.readerIndex
        guard let version = record.readInteger(as: UInt8.self), version == 1 || version == 2,
              let mid = record.readInteger(as: UInt64.self),
              let icid = record.readInteger(as: UInt64.self),
              let received = record.readInteger(as: UInt64.self),
              let size = record.readInteger(as: UInt64.self),
              let listener = readString(&record),
              let remote = readString(&record),
              let helo = readString(&record),
              let from = readString(&record),
              let destination = readString(&record),
              let count = record.readInteger(as: UInt32.self), Int(count) <= record.readableBytes / 4
        else { return nil }
        var recipients: [String] = []
        recipients.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let r = readString(&record) else { return nil }
            recipients.append(r)
        }
        guard let mode = record.readInteger(as: UInt8.self) else { return nil }
        var pending: [Int]? = nil
        if mode == 1 {
            guard let n = record.readInteger(as: UInt32.self), Int(n) <= record.readableBytes / 4 else { return nil }
            var list: [Int] = []
            list.reserveCapacity(Int(n))
            for _ in 0..<n {
                guard let rid = record.readInteger(as: UInt32.self) else { return nil }
                list.append(Int(rid))
            }
            pending = list
        } else if mode != 0 {
            return nil
        }
        var attributes: [String: String] = [:]
        if version == 2 {
            guard let n = record.readInteger(as: UInt32.self), Int(n) <= record.readableBytes / 8 else { return nil }
            for _ in 0..<n {
                guard let key = readString(&record), let value = readString(&record) else { return nil }
                attributes[key] = value
            }
        }
        guard let bodyLength = record.readInteger(as: UInt64.self), Int(bodyLength) == record.readableBytes else { return nil }
        let bodyOffset = base + (record.readerIndex - start)
        let envelope = MessageEnvelope(mid: mid, icid: icid, listener: listener, remoteAddress: remote, heloName: helo,
                                       mailFrom: from, recipients: recipients, receivedAt: Double(bitPattern: received),
                                       destination: destination, size: Int(size), attributes: attributes)
        return DecodedMessage(envelope: envelope, pending: pending, bodyOffset: bodyOffset, bodyLength: Int(bodyLength))
    }

    private static func readString(_ buffer: inout ByteBuffer) -> String? {
        guard let length = buffer.readInteger(as: UInt32.self), Int(length) <= buffer.readableBytes else { return nil }
        return buffer.readString(length: Int(length))
    }
}
