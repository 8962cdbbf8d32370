import NIOConcurrencyHelpers

/// What the administrator suspended: the whole system (`suspend`: listeners refuse and
/// delivery pauses) and single listeners (`suspendlisteners`). Pure value; the roles keep
/// one in a `SuspensionBook` and apply it to their listeners and queues.
public struct SuspensionState: Hashable, Sendable {
    /// `suspend` is in force: every listener refuses and delivery is paused.
    public var system = false
    /// Listeners suspended by name.
    public var listeners: Set<String> = []

    public init(system: Bool = false, listeners: Set<String> = []) {
        self.system = system
        self.listeners = listeners
    }

    /// Whether the listener called `name` refuses new connections now.
    public func isRefusing(_ name: String) -> Bool { system || listeners.contains(name) }

    /// `Online` unless `suspend` is in force.
    public var isOnline: Bool { !system }

    /// The listener names `target` (`NAME` or `all`) means among `known` (those that can
    /// be suspended).
    ///
    /// - Throws: `CommandArgumentError` for a name that is not a listener, listing them.
    public static func select(_ target: String, known: [String], command: String) throws -> [String] {
        if target == "all" { return known }
        guard let name = known.first(where: { $0 == target }) ?? known.first(where: { $0.lowercased() == target.lowercased() }) else {
            throw CommandArgumentError("\(command): no listener called \"\(target)\"; the listeners are: \(known.joined(separator: ", ")) (or all)")
        }
        return [name]
    }
}

/// The role's `SuspensionState`, shared by the commands that change and read it.
public final class SuspensionBook: Sendable {
    private let box = NIOLockedValueBox(SuspensionState())

    public init() {}

    public var state: SuspensionState { box.withLockedValue { $0 } }

    /// Changes the state and returns the new one.
    @discardableResult
    public func update(_ change: (inout SuspensionState) -> Void) -> SuspensionState {
        box.withLockedValue { state in
            change(&state)
            return state
        }
    }
}
