import NIOCore

/// One accepted control connection: reads one request line (with a deadline and a size
/// limit), runs the server's handler, writes the one response line and closes. Stays on
/// its event loop; the framing and the JSON live in `ControlRequestFramer` and `ControlWire`.
final class ControlConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let handler: ControlServer.Handler
    private let readTimeout: TimeAmount
    private var framer: ControlRequestFramer
    private var deadline: Scheduled<Void>?
    /// A request was taken (or refused): nothing more is read.
    private var done = false

    init(handler: @escaping ControlServer.Handler, readTimeout: TimeAmount, maxRequestBytes: Int) {
        self.handler = handler
        self.readTimeout = readTimeout
        self.framer = ControlRequestFramer(limit: maxRequestBytes)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let seconds = readTimeout.nanoseconds / 1_000_000_000
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: readTimeout) {
            self.refuse(ControlError(.timedOut, "no complete request within \(seconds) s: send one line of JSON like {\"args\":[\"help\"]} ending in a newline"),
                        context: context)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        let buffer = unwrapInboundIn(data)
        handle(framer.append(buffer.readableBytesView), context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let event = event as? ChannelEvent, event == .inputClosed else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        guard !done else { return }
        if let last = framer.finish() {
            handle(last, context: context)
        } else {
            done = true
            deadline?.cancel()
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        deadline?.cancel()
        context.close(promise: nil)
    }

    private func handle(_ event: ControlRequestFramer.Event, context: ChannelHandlerContext) {
        switch event {
        case .incomplete:
            return
        case .tooLarge:
            refuse(ControlError(.requestTooLarge, "request too large: the limit is \(framer.limit) bytes (one line of JSON)"), context: context)
        case .line(let line):
            switch ControlWire.decodeRequest(line) {
            case .failure(let error):
                refuse(error, context: context)
            case .success(let request):
                done = true
                deadline?.cancel()
                let promise = context.eventLoop.makePromise(of: ControlResponse.self)
                let handler = self.handler
                promise.completeWithTask { await handler(request.args) }
                promise.futureResult.assumeIsolated().whenSuccess { response in
                    self.respond(response, context: context)
                }
            }
        }
    }

    private func refuse(_ error: ControlError, context: ChannelHandlerContext) {
        done = true
        respond(.failure(error.message), context: context)
    }

    private func respond(_ response: ControlResponse, context: ChannelHandlerContext) {
        deadline?.cancel()
        guard context.channel.isActive else { return }
        let line = context.channel.allocator.buffer(bytes: ControlWire.encodeLine(response))
        context.writeAndFlush(wrapOutboundOut(line)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}
