@testable import MailMessage

/// Line ends a fixture is sent with: SMTP gives CRLF, files on disk often LF.
enum LineEnding: String, CaseIterable, Sendable, CustomStringConvertible {
    case crlf, lf
    var description: String { rawValue }
}

extension String {
    /// The fixture as bytes with the given line ends (fixtures are written with "\n").
    func bytes(_ ending: LineEnding = .crlf) -> [UInt8] {
        switch ending {
        case .lf: return Array(utf8)
        case .crlf: return Array(replacing("\n", with: "\r\n").utf8)
        }
    }
}

func parse(_ text: String, _ ending: LineEnding = .crlf, limits: MailMessage.Limits = .init()) -> MailMessage {
    MailMessage(parsing: text.bytes(ending), limits: limits)
}

func text(_ bytes: some Sequence<UInt8>) -> String {
    String(decoding: Array(bytes), as: UTF8.self)
}

/// Real-world shaped messages, as .eml files would hold them.
enum Fixtures {
    /// Thunderbird/Outlook shape: mixed > (alternative > (plain, related > (html, inline image))), pdf.
    static let nested = """
        Return-Path: <alice@example.com>
        Received: from mx.example.com (mx.example.com [192.0.2.1])
        \tby relay.example.net with ESMTPS id 4Xyz; Tue, 4 Jun 2024 10:00:00 +0000
        Received: from laptop ([198.51.100.7]) by mx.example.com; Tue, 4 Jun 2024 09:59:59 +0000
        From: =?UTF-8?Q?Alice_M=C3=BCller?= <alice@example.com>
        To: Bob <bob@example.net>
        Subject: =?UTF-8?B?UmVwb3J0IMOcYmVyc2ljaHQ=?=
        Date: Tue, 4 Jun 2024 09:59:58 +0000
        Message-ID: <report-1@example.com>
        MIME-Version: 1.0
        Content-Type: multipart/mixed; boundary="------------outer0123"

        This is a multi-part message in MIME format.
        --------------outer0123
        Content-Type: multipart/alternative;
         boundary="------------alt4567"

        --------------alt4567
        Content-Type: text/plain; charset=UTF-8; format=flowed
        Content-Transfer-Encoding: quoted-printable

        Hello Bob, the report is at https://example.com/report?id=3D42&x=3D1.
        Gr=C3=BC=C3=9Fe, Alice

        --------------alt4567
        Content-Type: multipart/related;
         boundary="------------rel89"

        --------------rel89
        Content-Type: text/html; charset=UTF-8
        Content-Transfer-Encoding: 7bit

        <html><body><p>Hello Bob, the <a href="https://example.com/report?id=42&amp;x=1">report</a>.</p>
        <img src="cid:logo@example.com"></body></html>

        --------------rel89
        Content-Type: image/png; name="logo.png"
        Content-Disposition: inline; filename="logo.png"
        Content-ID: <logo@example.com>
        Content-Transfer-Encoding: base64

        iVBORw0KGgo=

        --------------rel89--

        --------------alt4567--

        --------------outer0123
        Content-Type: application/pdf; name="report.pdf"
        Content-Disposition: attachment; filename="report.pdf"
        Content-Transfer-Encoding: base64

        JVBERi0xLjQK
        --------------outer0123--
        Epilogue that no client shows.

        """

    /// A message forwarded as an attachment whose own attachment is an executable.
    static let forwarded = """
        From: carol@example.org
        To: dave@example.org
        Subject: Fwd: invoice
        MIME-Version: 1.0
        Content-Type: multipart/mixed; boundary="fwd"

        --fwd
        Content-Type: text/plain

        See the forwarded message.
        --fwd
        Content-Type: message/rfc822; name="invoice.eml"
        Content-Disposition: attachment; filename="invoice.eml"

        From: billing@bad.example
        To: carol@example.org
        Subject: =?iso-8859-1?Q?Rechnung_f=FCr_Mai?=
        MIME-Version: 1.0
        Content-Type: multipart/mixed; boundary="inner"

        --inner
        Content-Type: text/html; charset=iso-8859-1

        <p>Bitte zahlen: <a href="http://pay.bad.example/x">hier</a></p>
        --inner
        Content-Type: application/octet-stream; name="invoice.pdf.exe"
        Content-Transfer-Encoding: base64

        TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
        --inner--

        --fwd--

        """

    /// Two parts and no close delimiter: a truncated message.
    static let missingClose = """
        From: a@example.com
        Subject: truncated
        Content-Type: multipart/mixed; boundary=XYZ

        --XYZ
        Content-Type: text/plain

        first
        --XYZ
        Content-Type: text/plain

        second, cut off here
        """

    static let missingBoundaryParameter = """
        From: a@example.com
        Subject: no boundary
        Content-Type: multipart/mixed

        --XYZ
        Content-Type: text/plain

        text
        --XYZ--

        """

    static let boundaryNotFound = """
        From: a@example.com
        Content-Type: multipart/mixed; boundary="never-used"

        --XYZ
        Content-Type: text/plain

        text
        --XYZ--

        """

    static let preambleEpilogue = """
        From: a@example.com
        Content-Type: multipart/mixed; boundary="b1"

        preamble line 1
        preamble line 2
        --b1
        Content-Type: text/plain

        part one
        --b1
        Content-Type: text/plain

        part two
        --b1--
        epilogue line
        --b1
        Content-Type: text/plain

        after the close: epilogue, not a part

        """

    /// multipart/digest: parts without Content-Type are message/rfc822 (RFC 2046 §5.1.5).
    static let digest = """
        From: list@example.com
        Subject: Digest
        Content-Type: multipart/digest; boundary="dig"

        --dig

        From: one@example.com
        Subject: first

        one
        --dig

        From: two@example.com
        Subject: second

        two
        --dig--

        """

    static let signedOnly = """
        From: a@example.com
        Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="sig"

        --sig
        Content-Type: text/plain

        signed text
        --sig
        Content-Type: application/pkcs7-signature; name="smime.p7s"
        Content-Transfer-Encoding: base64
        Content-Disposition: attachment; filename="smime.p7s"

        MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkqhkiG9w0BBwEAAKCAMIIE
        --sig--

        """

    /// Every fixture, for the fuzz test's corpus.
    static let all: [String] = [nested, forwarded, missingClose, missingBoundaryParameter, boundaryNotFound,
                                preambleEpilogue, digest, signedOnly]
}
