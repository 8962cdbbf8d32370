// Benchmark (not a test) for the MailMessage target: compiled together with
// Sources/MailMessage by scripts/bench-mailmessage, so it needs no package product.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

func makeMessage(size: Int) -> [UInt8] {
    var header = ""
    for hop in 0..<4 {
        header += "Received: from mx\(hop).example.net (mx\(hop).example.net [192.0.2.\(hop)])\r\n\tby relay.example.com with ESMTPS id ABC\(hop)DEF; Tue, 4 Jun 2024 10:00:0\(hop) +0000\r\n"
    }
    header += "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.net; s=s1;\r\n\th=from:to:subject:date:message-id; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n\tb=" + String(repeating: "A", count: 340) + "\r\n"
    header += "From: =?UTF-8?Q?Alice_M=C3=BCller?= <alice@example.net>\r\nTo: bob@example.com\r\nSubject: =?UTF-8?B?UmVwb3J0IMOcYmVyc2ljaHQ=?=\r\n"
    header += "Date: Tue, 4 Jun 2024 09:59:58 +0000\r\nMessage-ID: <bench@example.net>\r\nMIME-Version: 1.0\r\n"
    header += "Content-Type: multipart/mixed; boundary=\"----=_Part_0_1\"\r\n\r\n"
    var body = "This is a multi-part message in MIME format.\r\n------=_Part_0_1\r\nContent-Type: multipart/alternative; boundary=\"----=_Part_1_2\"\r\n\r\n"
    body += "------=_Part_1_2\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    for line in 0..<20 { body += "Line \(line) of the report, see https://example.com/r/\(line) f=C3=BCr Bob.\r\n" }
    body += "------=_Part_1_2\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>"
    for line in 0..<20 { body += "<p>Line \(line) <a href=\"https://example.com/r/\(line)\">link</a></p>\r\n" }
    body += "</body></html>\r\n------=_Part_1_2--\r\n"
    body += "------=_Part_0_1\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    let used = header.utf8.count + body.utf8.count + 24
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    var line = ""
    var remaining = max(76, size - used)
    var counter = 0
    while remaining > 0 {
        line.append(alphabet[counter % 64]); counter += 7
        if line.count == 76 { body += line + "\r\n"; remaining -= 78; line = "" }
    }
    body += "------=_Part_0_1--\r\n"
    return Array((header + body).utf8)
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

let count = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 20_000
let raw = makeMessage(size: 10 * 1024)
let check = MailMessage(parsing: raw)
precondition(check.defects.isEmpty, "bench message has defects: \(check.defects)")
precondition(check.attachments.count == 1 && check.textBodies.count == 2)
print("message: \(raw.count) bytes, \(check.allParts.count) parts, \(check.headers.count) top-level fields, \(check.urls.count) urls")

func fixed(_ value: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    return "\(rounded)"
}

func run(_ name: String, _ body: () -> Int) {
    _ = body()  // warm up
    let start = now()
    var sink = 0
    for _ in 0..<count { sink &+= body() }
    let seconds = now() - start
    let micros = seconds / Double(count) * 1e6
    // Gateway target: 1600 msg/s on 2 cores = 1250 µs of CPU per message; 5% of it is 62.5 µs.
    let share = micros / 1250 * 100
    print("\(name): \(count) x \(fixed(seconds, 2)) s = \(Int(Double(count) / seconds)) msg/s on one core, \(fixed(micros, 1)) µs/msg = \(fixed(share, 1))% of the per-message budget (sink \(sink & 1))")
}

run("parse only                          ") { MailMessage(parsing: raw).root.children.count }
run("parse + subject + attachment names  ") {
    let message = MailMessage(parsing: raw)
    return (message.subject?.count ?? 0) + message.attachments.compactMap(\.filename).count + (message.isMalformed ? 1 : 0)
}
run("parse + textBodies + urls           ") {
    let message = MailMessage(parsing: raw)
    return message.textBodies.count + message.urls.count
}
run("parse + decode all leaves (AV feed) ") {
    MailMessage(parsing: raw).leafParts.reduce(0) { $0 + $1.decodedBody.count }
}
run("parse + isEncrypted                 ") { MailMessage(parsing: raw).isEncrypted ? 1 : 0 }
