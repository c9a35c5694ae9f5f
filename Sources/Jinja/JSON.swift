import Foundation

/// JSON in and out, as Python's `json` module does it: objects keep their key order, and
/// `tojson` is `json.dumps(x, ensure_ascii=False, indent=…, separators=…, sort_keys=…)`.
public enum JSON {
    /// Parses JSON text into values; every string is marked as data when `isData` is true.
    public static func parse(_ text: String, isData: Bool = false) throws -> Value {
        var reader = Reader(scalars: Array(text.unicodeScalars), isData: isData)
        reader.skipSpace()
        let value = try reader.value(depth: 0)
        reader.skipSpace()
        guard reader.atEnd else { throw reader.error("unexpected text after the JSON value") }
        return value
    }

    struct Options {
        var indent: String?
        var itemSeparator: String
        var keySeparator: String
        var sortKeys: Bool
    }

    /// `value` as JSON text; data anywhere inside makes the whole text data.
    static func dump(_ value: Value, _ options: Options, _ r: Renderer, ensureASCII: Bool = false) throws -> Text {
        var out = ""
        var sawData = false
        func write(_ value: Value, level: Int) throws {
            guard level < 512 else { throw r.fail(.limit, "a value nests deeper than 512 levels") }
            switch value {
            case .none: out += "null"
            case .bool(let b): out += b ? "true" : "false"
            case .int(let i): out += String(i)
            case .double(let d):
                if d.isNaN {
                    out += "NaN"
                } else if d.isInfinite {
                    out += d < 0 ? "-Infinity" : "Infinity"
                } else {
                    out += Value.pythonFloat(d)
                }
            case .string(let s):
                sawData = sawData || s.containsData
                out += quoted(s.string, ensureASCII: ensureASCII)
            case .list(let items), .tuple(let items):
                try container(items.map { (nil, $0) }, open: "[", close: "]", level: level)
            case .dict(let dict):
                // Python writes non-string keys as their JSON text: 1 -> "1", True -> "true".
                var pairs = try dict.pairs.map { pair -> (String, Value) in
                    switch pair.key {
                    case .string(let s):
                        sawData = sawData || s.containsData
                        return (s.string, pair.value)
                    case .none: return ("null", pair.value)
                    case .bool(let b): return (b ? "true" : "false", pair.value)
                    case .int, .double: return (pair.key.python(repr: false), pair.value)
                    default: throw r.fail(.type, "keys must be str, int, float, bool or None")
                    }
                }
                if options.sortKeys {
                    pairs.sort {
                        $0.0.unicodeScalars.lexicographicallyPrecedes($1.0.unicodeScalars) { $0.value < $1.value }
                    }
                }
                try container(pairs.map { ($0.0, $0.1) }, open: "{", close: "}", level: level)
            default:
                throw r.fail(.type, "Object of type \(value.typeName) is not JSON serializable")
            }
        }
        func container(_ items: [(String?, Value)], open: String, close: String, level: Int) throws {
            guard !items.isEmpty else { out += open + close; return }
            // Indentation is built per line: charge it first (a huge indent times a deep value).
            if let indent = options.indent {
                try r.charge(indent.count.multipliedReportingOverflow(by: (level + 2) * items.count).overflow ? .max
                             : indent.count * (level + 2) * items.count)
            }
            out += open
            for (index, (key, item)) in items.enumerated() {
                if index > 0 { out += options.itemSeparator }
                if let indent = options.indent { out += "\n" + String(repeating: indent, count: level + 1) }
                if let key { out += quoted(key, ensureASCII: ensureASCII) + options.keySeparator }
                try write(item, level: level + 1)
                if out.utf8.count > Renderer.maxLength { try r.charge(out.utf8.count) }
            }
            if let indent = options.indent { out += "\n" + String(repeating: indent, count: level) }
            out += close
        }
        try write(value, level: 0)
        try r.charge(out.utf8.count)
        return Text(out, isData: sawData)
    }

    static func quoted(_ s: String, ensureASCII: Bool = false) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else if ensureASCII && scalar.value > 0x7F {
                    // Python writes astral characters as a surrogate pair.
                    for unit in String(scalar).utf16 { out += String(format: "\\u%04x", unit) }
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    private struct Reader {
        let scalars: [Unicode.Scalar]
        let isData: Bool
        var i = 0

        var atEnd: Bool { i >= scalars.count }

        func error(_ message: String) -> JinjaError {
            JinjaError(.value, "invalid JSON at character \(i): \(message)")
        }

        mutating func skipSpace() {
            while i < scalars.count, [" ", "\n", "\r", "\t"].contains(scalars[i]) { i += 1 }
        }

        mutating func literal(_ word: String, _ value: Value) throws -> Value {
            for expected in word.unicodeScalars {
                guard i < scalars.count, scalars[i] == expected else { throw error("expected '\(word)'") }
                i += 1
            }
            return value
        }

        mutating func value(depth: Int) throws -> Value {
            guard depth < 512 else { throw error("nested deeper than 512 levels") }
            guard i < scalars.count else { throw error("unexpected end of input") }
            switch scalars[i] {
            case "{":
                i += 1
                var dict = Dict()
                skipSpace()
                if i < scalars.count, scalars[i] == "}" { i += 1; return .dict(dict) }
                while true {
                    skipSpace()
                    guard i < scalars.count, scalars[i] == "\"" else { throw error("expected a string key") }
                    let key = try string()
                    skipSpace()
                    guard i < scalars.count, scalars[i] == ":" else { throw error("expected ':'") }
                    i += 1
                    skipSpace()
                    dict[.string(Text(key, isData: isData))] = try value(depth: depth + 1)
                    skipSpace()
                    guard i < scalars.count else { throw error("unterminated object") }
                    if scalars[i] == "," { i += 1; continue }
                    if scalars[i] == "}" { i += 1; return .dict(dict) }
                    throw error("expected ',' or '}'")
                }
            case "[":
                i += 1
                var items: [Value] = []
                skipSpace()
                if i < scalars.count, scalars[i] == "]" { i += 1; return .list(items) }
                while true {
                    skipSpace()
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard i < scalars.count else { throw error("unterminated array") }
                    if scalars[i] == "," { i += 1; continue }
                    if scalars[i] == "]" { i += 1; return .list(items) }
                    throw error("expected ',' or ']'")
                }
            case "\"": return .string(Text(try string(), isData: isData))
            case "t": return try literal("true", .bool(true))
            case "f": return try literal("false", .bool(false))
            case "n": return try literal("null", .none)
            default: return try number()
            }
        }

        mutating func number() throws -> Value {
            let start = i
            if i < scalars.count, scalars[i] == "-" { i += 1 }
            var isInteger = true
            while i < scalars.count, ("0"..."9").contains(scalars[i]) || ".eE+-".unicodeScalars.contains(scalars[i]) {
                if !("0"..."9").contains(scalars[i]) { isInteger = false }
                i += 1
            }
            let text = String(String.UnicodeScalarView(scalars[start..<i]))
            if isInteger, !text.isEmpty, text != "-" {
                guard let int = Int(text) else { throw error("the integer \(text) is beyond 64 bits") }
                return .int(int)
            }
            guard !text.isEmpty, text != "-", let double = Double(text) else { throw error("expected a value") }
            return .double(double)
        }

        mutating func string() throws -> String {
            i += 1
            var out = String.UnicodeScalarView()
            while i < scalars.count {
                let c = scalars[i]
                i += 1
                if c == "\"" { return String(out) }
                guard c == "\\" else {
                    guard c.value >= 0x20 else { throw error("a control character inside a string") }
                    out.append(c)
                    continue
                }
                guard i < scalars.count else { break }
                let e = scalars[i]
                i += 1
                switch e {
                case "\"", "\\", "/": out.append(e)
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                case "b": out.append("\u{08}")
                case "f": out.append("\u{0C}")
                case "u":
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code), i + 1 < scalars.count,
                            scalars[i] == "\\", scalars[i + 1] == "u" {
                        i += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("an unpaired surrogate") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw error("an unpaired surrogate") }
                    out.append(scalar)
                default: throw error("bad escape \\\(e)")
                }
            }
            throw error("unterminated string")
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= scalars.count,
                    let code = UInt32(String(String.UnicodeScalarView(scalars[i..<(i + 4)])), radix: 16) else {
                throw error("bad \\u escape")
            }
            i += 4
            return code
        }
    }
}
