import Foundation
import Testing

/// Kill -9 of the gateway in the middle of heavy traffic: everything that got
/// a 250 is delivered after the restart, and nothing is delivered twice.
@Suite(.serialized)
struct CrashRecoveryTests {
    /// A Python smtplib client that records every MID the gateway acknowledged
    /// with 250 ("ACK <mid>" lines) and keeps retrying through the crash.
    static let ackingClient = #"""
import smtplib, sys, threading, time
port, total, threads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
lock = threading.Lock()
sent = [0]
deadline = time.time() + 240
def release():
    with lock: sent[0] -= 1
def worker(n):
    while time.time() < deadline:
        with lock:
            if sent[0] >= total: return
        claimed = False
        try:
            s = smtplib.SMTP("127.0.0.1", port, timeout=30)
            s.ehlo("acker.test")
            while time.time() < deadline:
                with lock:
                    if sent[0] >= total: break
                    sent[0] += 1; seq = sent[0]
                claimed = True
                code, _ = s.mail("acker@sender.example")
                if code != 250:
                    break
                s.rcpt("acked@rcpt.example")
                body = "Subject: acked %d\r\n\r\n%s" % (seq, ("x" * 76 + "\r\n") * 30)
                code, resp = s.data(body)
                if code == 250:
                    claimed = False
                    with lock:  # one write per line: threads must not interleave
                        sys.stdout.write("ACK %s\n" % resp.decode().split("MID")[-1].strip()); sys.stdout.flush()
                else:
                    break
            if claimed:
                release(); claimed = False
            s.quit()
        except Exception as e:
            if claimed: release()
            time.sleep(0.1)
ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
[t.start() for t in ts]; [t.join() for t in ts]
print("DONE", flush=True)
"""#

    @Test("kill -9 while smtp-source and smtplib are sending: every acknowledged message delivered once after restart")
    func killNineDuringLoad() throws {
        try Self.killNine(scanning: "antivirus: {enabled: off}", quarantinesOddSubjects: false)
    }

    /// The same crash with the pipeline rewriting every message (a header insert, so
    /// each verdict is a spool replace record) and quarantining half of the acked ones:
    /// each acknowledged message ends up exactly once, at the smarthost or in the.cpq.host,
    /// scanned exactly once.
    @Test("kill -9 while the pipeline rewrites and quarantines: each message once, scanned once")
    func killNineDuringScanning() throws {
        try Self.killNine(scanning: #"""
            antivirus: {enabled: off}
            message_filters: |
              tag_all: if (true) { insert-header("X-Scanned", "yes"); }
              hold_odd: if (subject == '^acked [0-9]*[13579]$') { quarantine("Policy"); }
            """#, quarantinesOddSubjects: true)
    }

    static func killNine(scanning: String, quarantinesOddSubjects: Bool) throws {
        let smarthostPort = Harness.freePort()  // no sink yet: nothing leaves before the crash
        let cpqPort = Harness.freePort()
        let gateway = try GatewayInstance(smarthostPort: smarthostPort, cpqPort: cpqPort, scanning: scanning)
        try gateway.start()
        defer { gateway.stop() }

        let ackLog = gateway.home + "/acks.log"
        let acker = try Background(try Harness.tool("python3"), ["-c", Self.ackingClient, "\(gateway.port)", "300", "4"], logPath: ackLog)
        let source = try Background(try Harness.tool("smtp-source"),
            ["-s", "10", "-m", "2000", "-l", "8192", "-f", "load@sender.example", "-t", "sink@rcpt.example", "127.0.0.1:\(gateway.port)"],
            logPath: gateway.home + "/smtp-source.log")
        defer { acker.stop(); source.stop() }

        try Harness.waitUntil("100 messages accepted, 20 of them acknowledged to smtplib, before the crash", seconds: 120) {
            gateway.mailLogs.components(separatedBy: " ready ").count > 100 && acker.output.components(separatedBy: "ACK ").count > 20
        }
        gateway.kill9()
        let acksBeforeCrash = acker.output.components(separatedBy: "ACK ").count - 1
        #expect(acksBeforeCrash > 0, "the smtplib client had no 250 before the crash: \(acker.output)")

        try gateway.start()
        try Harness.waitUntil("the smtplib client to finish", seconds: 240) { !acker.process.isRunning }
        source.stop()
        let acked = acker.output.split(separator: "\n").filter { $0.hasPrefix("ACK ") }.compactMap { Int($0.dropFirst(4)) }
        #expect(acked.count == 300, "the client should get all 300 messages through across the restart: \(acker.output.suffix(500))")

        // Now the smarthost (and the stand-in for the manager) appear: everything in the spool must arrive once.
        let sink = try SMTPSink(port: smarthostPort)
        let manager = try SMTPSink(port: cpqPort)
        defer { sink.stop(); manager.stop() }
        try Harness.waitUntil("every acknowledged MID delivered or quarantined", seconds: 180) {
            Set(sink.deliveredMIDs + manager.deliveredMIDs).isSuperset(of: acked)
        }
        try Harness.waitUntil("the delivery queues to drain", seconds: 180) {
            let logs = gateway.mailLogs
            let ready = logs.components(separatedBy: " ready ").count - 1
            return sink.deliveredMIDs.count + manager.deliveredMIDs.count >= ready
        }
        let delivered = sink.deliveredMIDs + manager.deliveredMIDs
        #expect(Set(delivered).count == delivered.count, "a message was delivered twice")
        #expect(Set(delivered).isSuperset(of: acked), "acknowledged messages were lost")
        #expect(gateway.mailLogs.contains("message(s) recovered from the spool"))
        if quarantinesOddSubjects {
            #expect(!manager.deliveredMIDs.isEmpty, "nothing was quarantined")
            for text in sink.messages + manager.messages {
                #expect(text.components(separatedBy: "X-Scanned: yes").count == 2, "a message was scanned twice or not at all")
                if let range = text.range(of: #"Subject: acked (\d+)"#, options: .regularExpression),
                   let n = Int(text[range].split(separator: " ").last!) {
                    let inQuarantine = manager.messages.contains(text)
                    #expect(inQuarantine == (n % 2 == 1), "acked \(n) went to the wrong place")
                }
            }
        }
    }
}
