/// Encodes commands (arrays of bulk strings, as every Redis command is sent) and, for tests and fake
/// servers, any ``RESPValue``.
public enum RESPEncoder {
    /// Appends `*N\r\n$len\r\narg\r\n…` for one command.
    public static func appendCommand(_ arguments: [String], to buffer: inout [UInt8]) {
        appendArrayHeader(arguments.count, to: &buffer)
        for argument in arguments {
            var argument = argument
            argument.withUTF8 { appendBulk(UnsafeRawBufferPointer($0), to: &buffer) }
        }
    }

    /// Appends one command whose arguments are raw bytes.
    public static func appendCommand(_ arguments: [[UInt8]], to buffer: inout [UInt8]) {
        appendArrayHeader(arguments.count, to: &buffer)
        for argument in arguments {
            argument.withUnsafeBytes { appendBulk($0, to: &buffer) }
        }
    }

    /// Appends a command made of a fixed head (`SUBSCRIBE`) followed by names.
    public static func appendCommand<Names: Collection>(_ head: String, _ names: Names, to buffer: inout [UInt8])
    where Names.Element == String {
        appendArrayHeader(names.count + 1, to: &buffer)
        var head = head
        head.withUTF8 { appendBulk(UnsafeRawBufferPointer($0), to: &buffer) }
        for name in names {
            var name = name
            name.withUTF8 { appendBulk(UnsafeRawBufferPointer($0), to: &buffer) }
        }
    }

    /// The encoded bytes of one command.
    public static func command(_ arguments: String...) -> [UInt8] {
        var buffer: [UInt8] = []
        appendCommand(arguments, to: &buffer)
        return buffer
    }

    /// Appends `*N\r\n`.
    public static func appendArrayHeader(_ count: Int, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "*"))
        appendDecimal(count, to: &buffer)
        buffer.append(13)
        buffer.append(10)
    }

    /// Appends `$len\r\nbytes\r\n`.
    public static func appendBulk(_ bytes: UnsafeRawBufferPointer, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "$"))
        appendDecimal(bytes.count, to: &buffer)
        buffer.append(13)
        buffer.append(10)
        buffer.append(contentsOf: bytes.bindMemory(to: UInt8.self))
        buffer.append(13)
        buffer.append(10)
    }

    /// Appends the decimal digits of `value`.
    public static func appendDecimal(_ value: Int, to buffer: inout [UInt8]) {
        if value >= 0 && value < 10 {
            buffer.append(UInt8(truncatingIfNeeded: value) &+ 48)
            return
        }
        if value < 0 { buffer.append(UInt8(ascii: "-")) }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var magnitude = value.magnitude
        var count = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                d[19 - count] = UInt8(truncatingIfNeeded: magnitude % 10) &+ 48
                magnitude /= 10
                count += 1
            } while magnitude > 0
            buffer.append(contentsOf: d[(20 - count)...])
        }
    }

    /// Appends the wire form of any value (what a server would send).
    public static func append(_ value: RESPValue, to buffer: inout [UInt8]) {
        func line(_ type: Character, _ bytes: [UInt8]) {
            buffer.append(type.asciiValue!)
            buffer.append(contentsOf: bytes)
            buffer.append(contentsOf: [13, 10])
        }
        func blob(_ type: Character, _ bytes: [UInt8]) {
            buffer.append(type.asciiValue!)
            appendDecimal(bytes.count, to: &buffer)
            buffer.append(contentsOf: [13, 10])
            buffer.append(contentsOf: bytes)
            buffer.append(contentsOf: [13, 10])
        }
        func header(_ type: Character, _ count: Int) {
            buffer.append(type.asciiValue!)
            appendDecimal(count, to: &buffer)
            buffer.append(contentsOf: [13, 10])
        }
        switch value {
        case .simpleString(let b): line("+", b)
        case .error(let b): line("-", b)
        case .integer(let i): line(":", Array(String(i).utf8))
        case .bulkString(let b): blob("$", b)
        case .null: buffer.append(contentsOf: Array("_\r\n".utf8))
        case .array(let a):
            header("*", a.count)
            for e in a { append(e, to: &buffer) }
        case .set(let a):
            header("~", a.count)
            for e in a { append(e, to: &buffer) }
        case .push(let a):
            header(">", a.count)
            for e in a { append(e, to: &buffer) }
        case .map(let pairs):
            header("%", pairs.count)
            for p in pairs {
                append(p.key, to: &buffer)
                append(p.value, to: &buffer)
            }
        case .double(let d):
            let text: String
            if d.isNaN { text = "nan" } else if d == .infinity { text = "inf" } else if d == -.infinity { text = "-inf" } else { text = "\(d)" }
            line(",", Array(text.utf8))
        case .boolean(let b): line("#", [b ? UInt8(ascii: "t") : UInt8(ascii: "f")])
        case .bigNumber(let b): line("(", b)
        case .verbatimString(let format, let text): blob("=", format + [UInt8(ascii: ":")] + text)
        case .blobError(let b): blob("!", b)
        case .attribute(let pairs, let v):
            header("|", pairs.count)
            for p in pairs {
                append(p.key, to: &buffer)
                append(p.value, to: &buffer)
            }
            append(v, to: &buffer)
        }
    }

    /// The wire form of a value.
    public static func encode(_ value: RESPValue) -> [UInt8] {
        var buffer: [UInt8] = []
        append(value, to: &buffer)
        return buffer
    }
}
