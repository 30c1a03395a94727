/// Limits that keep a broken or hostile peer from making the parser allocate without bound.
public struct RESPParserConfiguration: Sendable, Hashable {
    /// The largest bulk string, verbatim string or blob error accepted, in bytes.
    public var maxBulkLength: Int
    /// The deepest nesting of aggregates accepted (a top-level array is depth 1).
    public var maxDepth: Int
    /// The most elements one aggregate may announce (a map counts its keys and values).
    public var maxElements: Int
    /// The longest line (simple string, error, integer, length header) accepted, in bytes.
    public var maxLineLength: Int
    /// The most elements all the aggregates of one top-level value may announce together: nesting could
    /// otherwise multiply `maxElements` (each parsed value costs tens of bytes of memory, a few on the wire).
    public var maxFrameElements: Int

    /// Defaults: 64 MiB bulk strings, depth 32, 512 Ki elements per aggregate and per top-level value (a parsed
    /// bulk element costs about 75 bytes: 512 Ki of them stay under 40 MiB), 64 KiB lines.
    public init(maxBulkLength: Int = 64 << 20, maxDepth: Int = 32, maxElements: Int = 512 << 10, maxLineLength: Int = 64 << 10, maxFrameElements: Int = 512 << 10) {
        self.maxBulkLength = maxBulkLength
        self.maxDepth = maxDepth
        self.maxElements = maxElements
        self.maxLineLength = maxLineLength
        self.maxFrameElements = maxFrameElements
    }
}
