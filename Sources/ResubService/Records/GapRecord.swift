import Resub

/// Encodes a ``Gap`` as the sink's JSON line:
/// `{"type":"gap","from":"<RFC 3339>","to":"<RFC 3339>","node":"host:port","channels":[…],"patterns":[…],"shard_channels":[…]}`.
package enum GapRecord {
    /// The JSON line, newline included. Names are sorted so records are stable.
    package static func encode(_ gap: Gap) -> [UInt8] {
        let out = OutputBuffer(capacity: 256 + gap.subscriptionCount * 16)
        out.append("{\"type\":\"gap\",\"from\":")
        string(RFC3339.format(gap.from), out)
        out.append(",\"to\":")
        string(RFC3339.format(gap.to), out)
        out.append(",\"node\":")
        string(gap.node, out)
        for kind in SubscriptionKind.allCases {
            out.append(UInt8(ascii: ","))
            string(kind.jsonKey, out)
            out.append(":[")
            for (i, name) in gap.names.names(kind, .desired).sorted().enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                string(name, out)
            }
            out.append(UInt8(ascii: "]"))
        }
        out.append("}\n")
        return Array(out.bytes)
    }

    private static func string(_ text: String, _ out: OutputBuffer) {
        JSONLineEncoder.appendString(text, to: out)
    }
}
