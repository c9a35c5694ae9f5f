import Foundation

/// A Jinja value, with Python's semantics (the reference renderer is Jinja2 on CPython).
///
/// Lists and dicts are values: the reference runs templates in an immutable sandbox, where a
/// template can never modify them, so copies are indistinguishable from shared references.
/// A namespace is the one mutable object, and is a reference.
public enum Value {
    /// A name or attribute that does not exist; printing it gives "", most uses raise `hint`.
    case undefined(hint: String)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(Text)
    case list(Items)
    case tuple(Items)
    case dict(Dict)
    case namespace(Namespace)
    case function(Function)

    public static func string(_ string: String, isData: Bool = false) -> Value {
        .string(Text(string, isData: isData))
    }

    public static func list(_ values: [Value]) -> Value { .list(Items(values)) }
    public static func tuple(_ values: [Value]) -> Value { .tuple(Items(values)) }

    /// How deeply containers nest in this value (0 for a scalar). Rendering refuses values deeper than
    /// `maxDepth`, so that printing, comparing and freeing them cannot exhaust the stack.
    public var depth: Int {
        switch self {
        case .list(let items), .tuple(let items): return items.depth
        case .dict(let dict): return dict.depth
        case .namespace(let namespace): return namespace.attributes.depth
        default: return 0
        }
    }

    public static let maxDepth = 600
}

/// The elements of a list or tuple, with how deeply they nest, known when they are put together.
public struct Items: RandomAccessCollection, ExpressibleByArrayLiteral {
    public let values: [Value]
    public let depth: Int

    public init(_ values: [Value]) {
        self.values = values
        depth = 1 + values.reduce(0) { Swift.max($0, $1.depth) }
    }

    public init(arrayLiteral elements: Value...) { self.init(elements) }

    public var startIndex: Int { 0 }
    public var endIndex: Int { values.count }
    public subscript(position: Int) -> Value { values[position] }
}

/// A Python dict, in insertion order. Keys are hashable values; 1, 1.0 and True are one key.
public struct Dict {
    public private(set) var keys: [Value] = []
    private var storage: [Key: Value] = [:]
    /// At least how deeply containers nest in the values (an upper bound once values are replaced).
    public private(set) var depth = 1

    /// Python's dict identity of a key: strings by their exact scalars (never up to canonical
    /// equivalence), 1 == 1.0 == True, a float by its bits (so a NaN finds itself).
    enum Key: Hashable {
        case string([Unicode.Scalar]), int(Int), double(UInt64), none

        init?(_ value: Value) {
            switch value {
            case .string(let s): self = .string(Array(s.string.unicodeScalars))
            case .int(let i): self = .int(i)
            case .bool(let b): self = .int(b ? 1 : 0)
            case .double(let d):
                if let i = Int(exactly: d) { self = .int(i) } else { self = .double(d.bitPattern) }
            case .none: self = .none
            default: return nil
            }
        }
    }

    public init() {}
    public init(_ pairs: [(String, Value)]) { for (key, value) in pairs { self[key] = value } }

    /// Whether `key` can be a dict key at all (lists and dicts cannot).
    static func isHashable(_ key: Value) -> Bool { Key(key) != nil }

    public subscript(key: Value) -> Value? {
        get { Key(key).flatMap { storage[$0] } }
        set {
            guard let k = Key(key) else { return }
            if let newValue { depth = max(depth, 1 + newValue.depth) }
            if storage[k] == nil, newValue != nil { keys.append(key) }
            if newValue == nil { keys.removeAll { Key($0) == k } }
            storage[k] = newValue
        }
    }

    public subscript(key: String) -> Value? {
        get { self[.string(key)] }
        set { self[.string(key)] = newValue }
    }

    public var count: Int { keys.count }
    public var pairs: [(key: Value, value: Value)] { keys.map { ($0, storage[Key($0)!]!) } }
}

/// `namespace(...)`: the object a template may assign attributes to from inside a loop.
public final class Namespace {
    var attributes: Dict
    init(_ attributes: Dict) { self.attributes = attributes }
}

/// Arguments of a call, as Python passes them.
public struct Arguments {
    public var positional: [Value]
    public var keyword: [(String, Value)]

    /// The argument at `position` or named `name`, if given.
    public func value(_ position: Int, _ name: String) -> Value? {
        if position < positional.count { return positional[position] }
        return keyword.first { $0.0 == name }?.1
    }
}

/// A callable: a builtin, a bound method, or a template's macro.
public struct Function {
    public let name: String
    let call: (Arguments) throws -> Value
}

/// The error a render raises, in the reference's terms: `kind` is the Python exception's class.
public struct JinjaError: Error, CustomStringConvertible, Equatable {
    public enum Kind: String, Sendable {
        case syntax = "TemplateSyntaxError"
        /// What Python itself refuses in the code Jinja2 compiles (`break` outside a loop).
        case pythonSyntax = "SyntaxError"
        /// A filter or test that does not exist, found when the template is parsed.
        case assertion = "TemplateAssertionError"
        case raised = "TemplateError"
        case type = "TypeError"
        case undefined = "UndefinedError"
        case value = "ValueError"
        case zeroDivision = "ZeroDivisionError"
        case security = "SecurityError"
        case runtime = "TemplateRuntimeError"
        case unsupported = "unsupported"
        case limit = "limit"
    }
    public var kind: Kind
    public var message: String
    public var line: Int?

    public init(_ kind: Kind, _ message: String, line: Int? = nil) {
        self.kind = kind
        self.message = message
        self.line = line
    }

    public var description: String {
        let place = line.map { "line \($0): " } ?? ""
        switch kind {
        case .unsupported:
            return "\(place)the template uses \(message), which Scalpel's Jinja interpreter does not implement; "
                + "render it with a template that avoids it, or report the construct."
        case .raised:
            return "\(place)the template raised an error: \(message)"
        case .limit:
            return "\(place)\(message)"
        default:
            return "\(place)\(kind.rawValue): \(message)"
        }
    }
}

// MARK: - Python semantics

extension Value {
    /// Python's type name, as error messages print it.
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .namespace: return "Namespace"
        case .function: return "function"
        }
    }

    var isUndefined: Bool { if case .undefined = self { return true } else { return false } }

    /// Python's truth value.
    var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .list(let l), .tuple(let l): return !l.isEmpty
        case .dict(let d): return d.count > 0
        case .namespace, .function: return true
        }
    }

    /// Python's `str()`, keeping the origin of strings (undefined prints as nothing); a container's
    /// text is data if any string in it is.
    public var text: Text {
        if case .string(let s) = self { return s }
        if case .undefined = self { return Text("") }
        return Text(python(repr: false), isData: containsData)
    }

    /// Whether any string in this value (dict keys included) came from data.
    var containsData: Bool {
        switch self {
        case .string(let s): return s.containsData
        case .list(let items), .tuple(let items): return items.contains { $0.containsData }
        case .dict(let dict): return dict.pairs.contains { $0.key.containsData || $0.value.containsData }
        default: return false
        }
    }

    /// Python's `str()` (repr: false) or `repr()` (repr: true), as plain text.
    func python(repr: Bool) -> String {
        switch self {
        case .undefined: return repr ? "Undefined" : ""
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return Value.pythonFloat(d)
        case .string(let s): return repr ? Value.pythonRepr(s.string) : s.string
        case .list(let l): return "[" + Value.reprs(l.map { $0 }) + "]"
        case .tuple(let t): return "(" + Value.reprs(t.map { $0 }) + (t.count == 1 ? ",)" : ")")
        case .dict(let d): return "{" + Value.reprs(d.pairs.map { .tuple([$0.key, $0.value]) }, pairs: true) + "}"
        case .namespace: return "<Namespace>"
        case .function(let f): return "<function \(f.name)>"
        }
    }

    /// The reprs of `items`, joined by ", " (dict entries as `key: value`). It stops growing once it is
    /// longer than any rendering may be: whoever uses the text refuses it then (`Renderer.charge`).
    private static func reprs(_ items: [Value], pairs: Bool = false) -> String {
        var out = ""
        for (index, item) in items.enumerated() {
            if index > 0 { out += ", " }
            if pairs, case .tuple(let kv) = item {
                out += kv[0].python(repr: true) + ": " + kv[1].python(repr: true)
            } else {
                out += item.python(repr: true)
            }
            if out.utf8.count > Renderer.maxLength { break }
        }
        return out
    }

    /// Python's `repr(float)`: the shortest digits that read back, with ".0" on integral values.
    static func pythonFloat(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        var s = "\(d)"  // Swift's description is also the shortest round-trip form
        if let e = s.firstIndex(of: "e"), let exponent = Int(s[s.index(after: e)...]), (0..<16).contains(exponent) {
            // Swift writes an exponent from 2^53 on; Python only from 1e16: spell the digits out.
            let mantissa = s[..<e].replacingOccurrences(of: "-", with: "")
            let digits = mantissa.replacingOccurrences(of: ".", with: "")
            let padded = digits + String(repeating: "0", count: max(0, exponent + 1 - digits.count))
            let integer = padded.prefix(exponent + 1), fraction = padded.dropFirst(exponent + 1)
            return (d < 0 ? "-" : "") + integer + "." + (fraction.isEmpty ? "0" : fraction)
        }
        if let e = s.firstIndex(of: "e") {
            // Python writes the exponent with a sign and at least two digits: 1e+16, 1e-05.
            var mantissa = String(s[..<e])
            if mantissa.hasSuffix(".0") { mantissa.removeLast(2) }
            var exponent = String(s[s.index(after: e)...])
            var sign = "+"
            if exponent.hasPrefix("-") { sign = "-"; exponent.removeFirst() }
            if exponent.hasPrefix("+") { exponent.removeFirst() }
            if exponent.count < 2 { exponent = "0" + exponent }
            s = mantissa + "e" + sign + exponent
        }
        return s
    }

    /// Python's `repr(str)`: single quotes unless the text has one and no double quote.
    static func pythonRepr(_ s: String) -> String {
        let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
        var out = String(quote)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(scalar) == quote {
                    out += "\\" + String(quote)
                } else if !isPythonPrintable(scalar) {
                    // Python escapes what str.isprintable() refuses: \xNN, \uNNNN, \UNNNNNNNN.
                    let v = scalar.value
                    out += v < 0x100 ? String(format: "\\x%02x", v)
                        : v < 0x10000 ? String(format: "\\u%04x", v) : String(format: "\\U%08x", v)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out.append(quote)
        return out
    }

    /// Python's `str.isprintable` for one scalar: not a control, format, separator (bar the space),
    /// surrogate, private-use or unassigned character.
    static func isPythonPrintable(_ s: Unicode.Scalar) -> Bool {
        if s == " " { return true }
        switch s.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .spaceSeparator, .lineSeparator,
             .paragraphSeparator:
            return false
        default:
            return true
        }
    }

    /// A number as Double, for arithmetic and comparison (bool is an int in Python).
    var number: Double? {
        switch self {
        case .bool(let b): return b ? 1 : 0
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    /// An integer (bool included), as Python accepts for indices and counts.
    var integer: Int? {
        switch self {
        case .bool(let b): return b ? 1 : 0
        case .int(let i): return i
        default: return nil
        }
    }

    /// Python's `==`.
    static func equal(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let x), .string(let y)): return x.string.unicodeScalars.elementsEqual(y.string.unicodeScalars)
        case (.list(let x), .list(let y)), (.tuple(let x), .tuple(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.dict(let x), .dict(let y)):
            return x.count == y.count && x.pairs.allSatisfy { pair in
                y[pair.key].map { equal(pair.value, $0) } ?? false
            }
        case (.namespace(let x), .namespace(let y)): return x === y
        default:
            if let x = a.integer, let y = b.integer { return x == y }
            if let x = a.number, let y = b.number { return x == y }
            return false
        }
    }

    /// Python's ordering (`<`); mismatched types raise TypeError as in Python.
    static func less(_ a: Value, _ b: Value, op: String = "<") throws -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)):
            return x.string.unicodeScalars.lexicographicallyPrecedes(y.string.unicodeScalars) { $0.value < $1.value }
        case (.list(let x), .list(let y)), (.tuple(let x), .tuple(let y)):
            for (p, q) in zip(x, y) where !equal(p, q) { return try less(p, q) }
            return x.count < y.count
        default:
            if let x = a.integer, let y = b.integer { return x < y }
            if let x = a.number, let y = b.number { return x < y }
            throw JinjaError(.type, "'\(op)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
        }
    }
}
