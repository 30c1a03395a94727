/// One parsing event of a YAML document, as libyaml reports it (the subset a settings file uses).
package enum YAMLEvent: Sendable, Equatable {
    /// The stream or a document starts or ends: nothing to do.
    case boundary
    /// A scalar's text; `plain` when it was written without quotes (only then can it mean null).
    case scalar(String, plain: Bool)
    /// A sequence (`[a, b]` or `- a`) starts.
    case sequenceStart
    /// The current sequence ends.
    case sequenceEnd
    /// A mapping (`key: value`) starts.
    case mappingStart
    /// The current mapping ends.
    case mappingEnd
    /// An alias (`*name`): settings files do not use anchors.
    case alias
}
