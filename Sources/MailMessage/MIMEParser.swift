/// Builds the MIME tree of a message: one pass over each header section,
/// one pass over each multipart body per nesting level (so O(size × depth),
/// depth bounded by `Limits.maxNestingDepth`), one validation pass over each
/// base64 / quoted-printable leaf. Bodies are never copied: parts hold
/// slices of the message's bytes.
final class MIMEParser {
    let limits: MailMessage.Limits
    private(set) var defects = DefectList()
    private var partCount = 0
    /// Octets still allowed for decoding base64/QP message/rfc822 bodies: twice
    /// the input's size, so nested encoded messages cannot multiply memory use.
    private var decodeBudget = 0

    init(limits: MailMessage.Limits) {
        self.limits = limits
    }

    func parseMessage(_ storage: [UInt8]) -> MIMEPart {
        decodeBudget = 2 * storage.count
        return storage.withUnsafeBufferPointer { buffer in
            parsePart(storage, buffer, range: 0..<buffer.count, depth: 0, defaultType: .textPlain, topLevel: true)
        }
    }

    // MARK: Parts (RFC 2045, RFC 2046)

    private func parsePart(_ storage: [UInt8], _ bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>,
                           depth: Int, defaultType: ContentType, topLevel: Bool = false) -> MIMEPart {
        partCount += 1
        var local = DefectList()
        let (headers, bodyStart) = parseHeaderSection(bytes, range: range, skipMboxFrom: topLevel, defects: &local)

        var typeField: HeaderField?
        var encodingField: HeaderField?
        var dispositionField: HeaderField?
        for field in headers.fields {
            let name = field.name.utf8
            guard name.count >= 12, name.count <= 25, ASCII.lower(name.first!) == UInt8(ascii: "c") else { continue }
            if field.hasName("content-type") {
                if typeField == nil { typeField = field } else { local.insert(.duplicateMIMEHeader) }
            } else if field.hasName("content-transfer-encoding") {
                if encodingField == nil { encodingField = field } else { local.insert(.duplicateMIMEHeader) }
            } else if field.hasName("content-disposition") {
                if dispositionField == nil { dispositionField = field } else { local.insert(.duplicateMIMEHeader) }
            }
        }
        var contentType = defaultType
        if let typeField {
            if let parsed = ContentType(parsing: typeField.rawValue) {
                contentType = parsed
            } else {
                contentType = .textPlain
                local.insert(.invalidContentType)
            }
        }
        let encoding = ContentTransferEncoding(encodingField?.rawValue)
        let disposition = dispositionField.map { ContentDisposition(parsing: $0.rawValue) }
        var filename: String?
        if let name = disposition?.filename ?? contentType.name {
            let decoded = ASCII.trimmed(Substring(EncodedWords.decode(name)))
            filename = decoded.isEmpty ? nil : String(decoded)
        }

        // Merged into the message's list as found, so it stays in document order.
        defects.formUnion(local.list)

        let body = bodyStart..<range.upperBound
        var children: [MIMEPart] = []
        var preamble = storage[body.lowerBound..<body.lowerBound]
        var epilogue = preamble

        if contentType.isMultipart {
            if encoding.isEncoding { local.insert(.encodedCompositePart) }
            if depth >= limits.maxNestingDepth {
                local.insert(.nestingTooDeep)
            } else if let boundary = contentType.boundary, !boundary.isEmpty {
                let split = Self.split(bytes, body: body, boundary: Array(boundary.utf8),
                                       maxParts: max(0, limits.maxParts - partCount))
                if !split.found {
                    local.insert(.boundaryNotFound)
                } else {
                    if !split.closed, !split.truncated { local.insert(.missingClosingBoundary) }
                    if split.truncated { local.insert(.tooManyParts) }
                    preamble = storage[body.lowerBound..<split.preambleEnd]
                    if let start = split.epilogueStart { epilogue = storage[start..<body.upperBound] }
                    defects.formUnion(local.list)
                    let childType: ContentType = contentType.subtype == "digest" ? .messageRFC822 : .textPlain
                    children.reserveCapacity(split.parts.count)
                    for partRange in split.parts {
                        if partCount >= limits.maxParts {
                            local.insert(.tooManyParts)
                            break
                        }
                        children.append(parsePart(storage, bytes, range: partRange, depth: depth + 1, defaultType: childType))
                    }
                }
            } else {
                local.insert(.missingBoundary)
            }
        } else if contentType.isEncapsulatedMessage {
            if depth >= limits.maxNestingDepth {
                local.insert(.nestingTooDeep)
            } else if partCount >= limits.maxParts {
                local.insert(.tooManyParts)
            } else if encoding.isEncoding, body.count > decodeBudget {
                local.insert(.decodeLimitExceeded)
            } else if encoding.isEncoding {
                // Forbidden (RFC 2045 §6.4) but seen; message/global may be encoded (RFC 6532 §3.5).
                if contentType.subtype != "global" { local.insert(.encodedCompositePart) }
                decodeBudget -= body.count
                let slice = UnsafeBufferPointer(rebasing: bytes[body])
                if encoding == .base64, !Base64.isValid(slice) { local.insert(.badEncoding) }
                if encoding == .quotedPrintable, !QuotedPrintable.isValid(slice) { local.insert(.badEncoding) }
                defects.formUnion(local.list)
                let decoded = encoding == .base64 ? Base64.decode(slice) : QuotedPrintable.decode(slice)
                let child = decoded.withUnsafeBufferPointer { inner in
                    parsePart(decoded, inner, range: 0..<inner.count, depth: depth + 1, defaultType: .textPlain)
                }
                children.append(child)
            } else {
                children.append(parsePart(storage, bytes, range: body, depth: depth + 1, defaultType: .textPlain))
            }
        } else {
            switch encoding {
            case .base64:
                if !Base64.isValid(UnsafeBufferPointer(rebasing: bytes[body])) { local.insert(.badEncoding) }
            case .quotedPrintable:
                if !QuotedPrintable.isValid(UnsafeBufferPointer(rebasing: bytes[body])) { local.insert(.badEncoding) }
            case .other:
                local.insert(.unknownTransferEncoding)
            case .sevenBit, .eightBit, .binary:
                break
            }
        }

        defects.formUnion(local.list)
        return MIMEPart(headers: headers, contentType: contentType, contentDisposition: disposition,
                        contentTransferEncoding: encoding, filename: filename, children: children,
                        rawBody: storage[body], preamble: preamble, epilogue: epilogue, defects: local.list)
    }

    struct Split {
        var found = false
        var closed = false
        var truncated = false
        var preambleEnd = 0
        var epilogueStart: Int?
        var parts: [Range<Int>] = []
    }

    /// Finds the delimiter lines `--boundary` and `--boundary--` (RFC 2046
    /// §5.1.1: at the start of a line, then only white space). The line break
    /// before a delimiter belongs to it. Stops after `maxParts` parts.
    static func split(_ bytes: UnsafeBufferPointer<UInt8>, body: Range<Int>, boundary: [UInt8], maxParts: Int) -> Split {
        var split = Split()
        split.preambleEnd = body.lowerBound
        var contentStart: Int?
        var lineStart = body.lowerBound
        let end = body.upperBound
        let count = boundary.count
        boundary.withUnsafeBufferPointer { boundary in
            while lineStart < end {
                let lineEnd = bytes.firstIndex(of: 0x0A, from: lineStart, to: end)
                var next = lineEnd + 1
                if next > end { next = end }
                // Candidate: "--" + boundary fits on the line.
                if lineEnd - lineStart >= count + 2, bytes[lineStart] == 0x2D, bytes[lineStart + 1] == 0x2D,
                   memoryEqual(bytes, lineStart + 2, boundary, count) {
                    var after = lineStart + 2 + count
                    var closing = false
                    if after + 1 < lineEnd, bytes[after] == 0x2D, bytes[after + 1] == 0x2D {
                        closing = true
                        after += 2
                    }
                    while after < lineEnd, bytes[after] == 0x20 || bytes[after] == 0x09 || bytes[after] == 0x0D { after += 1 }
                    if after == lineEnd {
                        var previousEnd = lineStart
                        if previousEnd > body.lowerBound, bytes[previousEnd - 1] == 0x0A {
                            previousEnd -= 1
                            if previousEnd > body.lowerBound, bytes[previousEnd - 1] == 0x0D { previousEnd -= 1 }
                        }
                        if let start = contentStart {
                            split.parts.append(start..<max(start, previousEnd))
                        } else if !split.found {
                            split.found = true
                            split.preambleEnd = previousEnd
                        }
                        if closing {
                            split.closed = true
                            split.epilogueStart = next
                            return
                        }
                        if split.parts.count >= maxParts {
                            split.truncated = true
                            return
                        }
                        contentStart = next
                    }
                }
                lineStart = lineEnd + 1
            }
            if let start = contentStart { split.parts.append(start..<end) }
        }
        return split
    }

    private static func memoryEqual(_ bytes: UnsafeBufferPointer<UInt8>, _ offset: Int,
                                    _ other: UnsafeBufferPointer<UInt8>, _ count: Int) -> Bool {
        var index = 0
        while index < count {
            if bytes[offset + index] != other[index] { return false }
            index += 1
        }
        return true
    }

    // MARK: Header section (RFC 5322 §2.2, §3.6)

    /// Reads the fields from `range.lowerBound` up to the empty line; returns
    /// them and where the body starts. Never reads past `range`.
    func parseHeaderSection(_ bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>, skipMboxFrom: Bool,
                            defects: inout DefectList) -> (MessageHeaders, Int) {
        var fields: [HeaderField] = []
        let end = range.upperBound
        var index = range.lowerBound
        var bodyStart = end
        var fieldStart = -1
        var fieldColon = -1
        var fieldEnd = -1
        var folded = false

        if skipMboxFrom, end - index >= 5, bytes[index] == 0x46, bytes[index + 1] == 0x72, bytes[index + 2] == 0x6F,
           bytes[index + 3] == 0x6D, bytes[index + 4] == 0x20 {
            // An mbox "From " line before the header.
            while index < end, bytes[index] != 0x0A { index += 1 }
            index += 1
        }

        func finishField() {
            guard fieldStart >= 0 else { return }
            defer { fieldStart = -1 }
            if fieldEnd - range.lowerBound > limits.maxHeaderBytes {
                defects.insert(.headerTooLong)
                return
            }
            if fields.count >= limits.maxHeaderFields {
                defects.insert(.tooManyHeaderFields)
                return
            }
            fields.append(makeField(bytes, start: fieldStart, colon: fieldColon, end: fieldEnd, folded: folded, defects: &defects))
        }

        while index < end {
            let lineEnd = bytes.firstIndex(of: 0x0A, from: index, to: end)
            var contentEnd = lineEnd
            if contentEnd > index, bytes[contentEnd - 1] == 0x0D { contentEnd -= 1 }
            if contentEnd == index {
                bodyStart = min(lineEnd + 1, end)
                break
            }
            if contentEnd - index > limits.maxHeaderLineLength { defects.insert(.headerLineTooLong) }
            let first = bytes[index]
            if first == 0x20 || first == 0x09 {
                if fieldStart >= 0 {
                    fieldEnd = contentEnd
                    folded = true
                } else {
                    defects.insert(.invalidHeaderLine)
                }
            } else {
                // field-name = 1*ftext (33-126 except ":"), then optional WSP (obsolete syntax, RFC 5322 §4.5), then ":".
                var colon = index
                while colon < contentEnd, bytes[colon] > 0x20, bytes[colon] < 0x7F, bytes[colon] != 0x3A { colon += 1 }
                let nameEnd = colon
                while colon < contentEnd, bytes[colon] == 0x20 || bytes[colon] == 0x09 { colon += 1 }
                guard nameEnd > index, colon < contentEnd, bytes[colon] == 0x3A else {
                    defects.insert(.missingHeaderBodySeparator)
                    bodyStart = index
                    break
                }
                finishField()
                fieldStart = index
                fieldColon = colon
                fieldEnd = contentEnd
                folded = false
            }
            index = lineEnd + 1
        }
        finishField()
        return (MessageHeaders(fields), bodyStart)
    }

    private func makeField(_ bytes: UnsafeBufferPointer<UInt8>, start: Int, colon: Int, end: Int, folded: Bool,
                           defects: inout DefectList) -> HeaderField {
        var nameEnd = colon
        while nameEnd > start, bytes[nameEnd - 1] == 0x20 || bytes[nameEnd - 1] == 0x09 { nameEnd -= 1 }
        let name = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<nameEnd]), as: UTF8.self)

        var valueStart = colon + 1
        var valueEnd = end
        func isFoldingSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A }
        while valueStart < valueEnd, isFoldingSpace(bytes[valueStart]) { valueStart += 1 }
        while valueEnd > valueStart, isFoldingSpace(bytes[valueEnd - 1]) { valueEnd -= 1 }

        var unfolded: [UInt8] = []
        if folded {
            // Unfold (RFC 5322 §2.2.3): drop the line breaks, keep the white space.
            unfolded.reserveCapacity(valueEnd - valueStart)
            var index = valueStart
            while index < valueEnd {
                let lineFeed = bytes.firstIndex(of: 0x0A, from: index, to: valueEnd)
                var segmentEnd = lineFeed
                if segmentEnd > index, bytes[segmentEnd - 1] == 0x0D { segmentEnd -= 1 }
                unfolded.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[index..<segmentEnd]))
                index = lineFeed + 1
            }
        }
        let rawValue: String
        let (eightBit, control): (Bool, Bool) = unfolded.withUnsafeBufferPointer { unfoldedBuffer in
            let value = folded ? unfoldedBuffer : UnsafeBufferPointer(rebasing: bytes[valueStart..<valueEnd])
            var eightBit = false
            var control = false
            for byte in value where byte < 0x20 || byte >= 0x7F {
                if byte >= 0x80 { eightBit = true } else if byte != 0x09 { control = true }
            }
            return (eightBit, control)
        }
        if folded {
            rawValue = eightBit ? Charset.usASCII.decode(unfolded) : String(decoding: unfolded, as: UTF8.self)
        } else {
            let value = UnsafeBufferPointer(rebasing: bytes[valueStart..<valueEnd])
            rawValue = eightBit ? Charset.usASCII.decode(value) : String(decoding: value, as: UTF8.self)
        }
        if eightBit { defects.insert(.eightBitInHeader) }
        if control { defects.insert(.controlCharacterInHeader) }
        return HeaderField(name: name, rawValue: rawValue)
    }
}
