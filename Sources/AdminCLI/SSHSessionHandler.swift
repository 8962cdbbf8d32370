import Foundation
import NIOCore
import NIOSSH

/// One SSH session channel of the admin server: an exec request runs one command and
/// closes; a shell request (after a pty request) runs an `SSHShellSession`. Commands run
/// in-process through the `CommandTable`, never through a shell. Thin: the session value
/// decides, this handler does the I/O.
final class SSHSessionHandler: ChannelDuplexHandler {
    typealias InboundIn = SSHChannelData
    typealias InboundOut = Never
    typealias OutboundIn = Never
    typealias OutboundOut = SSHChannelData

    private let table: CommandTable
    private let user: SSHUser
    private let roleName: String
    private let log: @Sendable (String) -> Void
    private var terminal = false
    private var started = false
    private var shell: SSHShellSession?
    private var pendingAnswer: EventLoopPromise<Bool>?
    private var context: ChannelHandlerContext?

    init(table: CommandTable, user: SSHUser, roleName: String, log: @escaping @Sendable (String) -> Void) {
        self.table = table
        self.user = user
        self.roleName = roleName
        self.log = log
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        context.channel.setOption(ChannelOptions.allowRemoteHalfClosure, value: true).assumeIsolated().whenFailure { error in
            context.fireErrorCaught(error)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        pendingAnswer?.succeed(false)
        pendingAnswer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        pendingAnswer?.succeed(false)
        pendingAnswer = nil
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let request as SSHChannelRequestEvent.PseudoTerminalRequest:
            terminal = true
            reply(request.wantReply, ok: true, context: context)
        case let request as SSHChannelRequestEvent.EnvironmentRequest:
            reply(request.wantReply, ok: false, context: context)
        case let request as SSHChannelRequestEvent.ShellRequest:
            guard !started else { return reply(request.wantReply, ok: false, context: context) }
            started = true
            reply(request.wantReply, ok: true, context: context)
            var session = SSHShellSession(roleName: roleName)
            let actions = session.start(user: user.name, role: user.role)
            shell = session
            perform(actions)
        case let request as SSHChannelRequestEvent.ExecRequest:
            guard !started else { return reply(request.wantReply, ok: false, context: context) }
            started = true
            reply(request.wantReply, ok: true, context: context)
            exec(request.command, context: context)
        case let request as SSHChannelRequestEvent.SubsystemRequest:
            reply(request.wantReply, ok: false, context: context)
        case let channelEvent as ChannelEvent where channelEvent == .inputClosed:
            if shell != nil { perform(shell!.inputClosed()) }
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = unwrapInboundIn(data)
        guard case .channel = message.type, case .byteBuffer(let buffer) = message.data, shell != nil else { return }
        perform(shell!.receive(Array(buffer.readableBytesView)))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func reply(_ wantReply: Bool, ok: Bool, context: ChannelHandlerContext) {
        guard wantReply else { return }
        if ok {
            context.triggerUserOutboundEvent(ChannelSuccessEvent(), promise: nil)
        } else {
            context.triggerUserOutboundEvent(ChannelFailureEvent(), promise: nil)
        }
    }

    // MARK: exec: one command, output on stdout (errors on stderr), exit status 0 or 1

    private func exec(_ command: String, context: ChannelHandlerContext) {
        let words: [String]
        do {
            words = try CommandLineWords.split(command)
        } catch {
            log(logLine(command, ok: false))
            finishExec(ControlResponse.failure("\(error)"))
            return
        }
        let commandContext = CommandContext(user: user.name, role: user.role, interactive: false)
        run(words, line: command, commandContext: commandContext) { [weak self] response in
            self?.finishExec(response)
        }
    }

    private func finishExec(_ response: ControlResponse) {
        guard let context else { return }
        var text = response.output
        if !text.isEmpty && !text.hasSuffix("\n") { text += "\n" }
        let bytes = terminal ? SSHShellSession.terminalText(text) : Array(text.utf8)
        if !bytes.isEmpty {
            let buffer = context.channel.allocator.buffer(bytes: bytes)
            context.write(wrapOutboundOut(SSHChannelData(type: response.ok ? .channel : .stdErr, data: .byteBuffer(buffer))), promise: nil)
        }
        context.flush()
        let channel = context.channel
        context.triggerUserOutboundEvent(SSHChannelRequestEvent.ExitStatus(exitStatus: response.ok ? 0 : 1)).assumeIsolated().whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    // MARK: shell

    private func perform(_ actions: [SSHShellSession.Action]) {
        guard let context else { return }
        for action in actions {
            switch action {
            case .write(let bytes):
                context.write(wrapOutboundOut(SSHChannelData(type: .channel, data: .byteBuffer(context.channel.allocator.buffer(bytes: bytes)))), promise: nil)
            case .run(let words, let line):
                let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
                let eventLoop = context.eventLoop
                let commandContext = CommandContext(user: user.name, role: user.role, interactive: true) { question in
                    let promise = eventLoop.makePromise(of: Bool.self)
                    eventLoop.execute { loop.value.ask(question, promise) }
                    return (try? await promise.futureResult.get()) ?? false
                }
                run(words, line: line, commandContext: commandContext) { [weak self] response in
                    guard let self, self.shell != nil else { return }
                    self.perform(self.shell!.commandFinished(response))
                }
            case .answer(let yes):
                pendingAnswer?.succeed(yes)
                pendingAnswer = nil
            case .end:
                context.flush()
                let channel = context.channel
                context.triggerUserOutboundEvent(SSHChannelRequestEvent.ExitStatus(exitStatus: 0)).assumeIsolated().whenComplete { _ in
                    channel.close(promise: nil)
                }
                return
            }
        }
        context.flush()
    }

    private func ask(_ question: String, _ promise: EventLoopPromise<Bool>) {
        guard shell != nil, context != nil, pendingAnswer == nil else { return promise.succeed(false) }
        pendingAnswer = promise
        perform(shell!.confirmationAsked(question))
    }

    // MARK: running a command

    private func run(_ words: [String], line: String, commandContext: CommandContext,
                     then: @escaping (ControlResponse) -> Void) {
        guard let context else { return }
        let table = self.table
        let log = self.log
        let logLine = { (ok: Bool) in self.logLine(line, ok: ok) }
        let okLine = logLine(true)
        let failedLine = logLine(false)
        context.eventLoop.makeFutureWithTask {
            let response = await table.handle(words, context: commandContext)
            log(response.ok ? okLine : failedLine)
            return response
        }.assumeIsolated().whenComplete { result in
            then((try? result.get()) ?? .failure("the command failed unexpectedly; see the server's log"))
        }
    }

    private func logLine(_ command: String, ok: Bool) -> String {
        let shown = String(command.prefix(200)).replacingOccurrences(of: "\n", with: " ")
        return "SSH command by \"\(user.name)\" (\(user.role.rawValue)): \(shown): \(ok ? "ok" : "failed")"
    }
}
