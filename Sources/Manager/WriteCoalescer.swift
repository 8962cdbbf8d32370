import NIOConcurrencyHelpers

/// Collects items and hands them to `write` many at a time: the first item starts a
/// background writer, items added while it writes go in its next call. For store updates
/// whose caller need not wait for the disk (the release queue's bookkeeping: a crash
/// before the write only means a release is sent again, and the gateway answers
/// "already queued"), so that a burst of releases costs a few commits, not one each.
final class WriteCoalescer<Item: Sendable>: Sendable {
    private let state = NIOLockedValueBox<(items: [Item], writing: Bool)>(([], false))
    private let write: @Sendable ([Item]) async -> Void

    init(write: @escaping @Sendable ([Item]) async -> Void) {
        self.write = write
    }

    func add(_ item: Item) {
        let starts = state.withLockedValue { state -> Bool in
            state.items.append(item)
            if state.writing { return false }
            state.writing = true
            return true
        }
        guard starts else { return }
        Task { await self.drain() }
    }

    /// True while items wait or are being written (for orderly shutdown).
    var isBusy: Bool { state.withLockedValue { $0.writing } }

    private func drain() async {
        while true {
            let batch = state.withLockedValue { state -> [Item] in
                let items = state.items
                state.items.removeAll()
                if items.isEmpty { state.writing = false }
                return items
            }
            if batch.isEmpty { return }
            await write(batch)
        }
    }
}
