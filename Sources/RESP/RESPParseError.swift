/// Malformed or over-limit input. Once a parser has thrown one, it throws the same error for all later input:
/// the byte stream can no longer be trusted and the connection must be rebuilt.
public struct RESPParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, stable for matching.
    public enum Code: String, Sendable, Hashable {
        /// The first byte of a value is not a known RESP type.
        case invalidTypeByte
        /// A length or count is not a valid non-negative decimal (or -1 where allowed).
        case invalidLength
        /// An integer line is not a valid signed 64-bit decimal.
        case invalidInteger
        /// A double line cannot be parsed.
        case invalidDouble
        /// A boolean line is neither `t` nor `f`.
        case invalidBoolean
        /// A verbatim string lacks its `xxx:` format prefix.
        case invalidVerbatimString
        /// A bulk payload is not followed by CRLF.
        case missingCRLF
        /// A line has no CRLF within the line-length limit.
        case lineTooLong
        /// A bulk length exceeds the configured maximum.
        case bulkTooLong
        /// Aggregates are nested deeper than the configured maximum.
        case tooDeep
        /// An aggregate announces more elements than the configured maximum.
        case tooManyElements
        /// A RESP3 streamed string or aggregate (`$?`, `*?`); Redis never sends them.
        case unsupported
    }

    /// The kind of failure.
    public var code: Code
    /// A human-readable explanation.
    public var message: String
    /// The offset of the offending byte, counted from the first byte ever fed to the parser.
    public var offset: Int

    /// Creates an error.
    public init(_ code: Code, _ message: String, offset: Int) {
        self.code = code
        self.message = message
        self.offset = offset
    }

    /// `RESP parse error (code) at byte N: message`.
    public var description: String { "RESP parse error (\(code.rawValue)) at byte \(offset): \(message)" }
}
