import ServiceLifecycle

extension Spool: Service {
    /// Keeps the spool open until graceful shutdown (or cancellation), then closes it after
    /// everything already submitted is durable. Put the spool first in a `ServiceGroup`:
    /// services stop in reverse order, so listeners and queues stop before it closes.
    public func run() async throws {
        try? await gracefulShutdown()
        close()
    }
}
