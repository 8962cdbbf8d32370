import MailMessage

extension MessageFacts {
    /// The facts filters see, from the envelope and the parsed message. Text bodies
    /// are decoded only when `textBodies` is true (some filter reads them).
    init(message: MailMessage, mailFrom: String, recipients: [String], remoteIP: String, senderGroup: String?,
         listener: String, bodySize: Int, textBodies: Bool) {
        self.init(mailFrom: mailFrom, recipients: recipients, remoteIP: remoteIP, senderGroup: senderGroup, listener: listener,
                  headers: message.headers.fields.map { Header(name: $0.name, value: $0.value) },
                  subject: message.subject,
                  textBodies: textBodies ? message.textBodies : [],
                  attachments: message.attachments.map {
                      AttachmentFacts(filename: $0.filename, contentType: $0.contentType.mimeType, size: $0.decodedSize)
                  },
                  bodySize: bodySize, isEncrypted: message.isEncrypted, isMalformed: message.isMalformed)
    }
}
