/// The limits of the message filter language, named so they can be cited in
/// errors and documentation.
public enum FilterDefaults {
    /// How deeply `not` and parentheses may nest in one condition. Deeper
    /// conditions are refused at parse time (no condition an admin writes
    /// comes close; the limit keeps the recursive parser and evaluator safe).
    public static let maxConditionDepth = 64
    /// The largest size a condition may name: 1 TiB. (`body-size > 2000G` is refused.)
    public static let maxSize = 1 << 40
}
