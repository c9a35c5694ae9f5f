import Foundation

/// A metric declared in the recipe as a formula over one example, e.g.
/// `shortcut = answer == n0 + n1` ("the answer equals the sum of the first two numbers").
///
/// Grammar (usual precedence, lowest first): `||`, `&&`, `== != < <= > >=`, `+ -`, `* / %`, unary `- !`,
/// then numbers, names, parentheses and the functions abs, min, max, round.
/// Names: `label`, `prediction`, `confidence`, `loss`, `correct`; `n0`, `n1`, … the numbers in the text
/// in order; `numbers` the count of them; any dataset column holding a number. Comparisons give 1 or 0.
/// A name without a value for an example (a missing column, too few numbers) makes that example's value
/// missing, which the collection reports.
public indirect enum MetricExpression: Equatable, Sendable, CustomStringConvertible {
    case number(Double)
    case name(String)
    case unary(String, MetricExpression)
    case binary(String, MetricExpression, MetricExpression)
    case call(String, [MetricExpression])

    public var description: String {
        switch self {
        case .number(let v): return String(v)
        case .name(let n): return n
        case .unary(let op, let e): return "\(op)\(e)"
        case .binary(let op, let a, let b): return "(\(a) \(op) \(b))"
        case .call(let f, let args): return "\(f)(\(args.map(\.description).joined(separator: ", ")))"
        }
    }

    /// Parses `text`; throws a message that points at the offending character.
    public static func parse(_ text: String) throws -> MetricExpression {
        var parser = Parser(characters: Array(text))
        let expression = try parser.parseOr()
        parser.skipSpaces()
        guard parser.index == parser.characters.count else {
            throw parser.fail("unexpected '\(parser.characters[parser.index])'")
        }
        return expression
    }

    /// The value for one example, or nil when a name has no value for it.
    public func evaluate(_ lookup: (String) -> Double?) -> Double? {
        switch self {
        case .number(let v): return v
        case .name(let n): return lookup(n)
        case .unary(let op, let e):
            guard let v = e.evaluate(lookup) else { return nil }
            return op == "-" ? -v : (v == 0 ? 1 : 0)
        case .binary(let op, let a, let b):
            guard let x = a.evaluate(lookup), let y = b.evaluate(lookup) else { return nil }
            switch op {
            case "+": return x + y
            case "-": return x - y
            case "*": return x * y
            case "/": return x / y
            case "%": return x.truncatingRemainder(dividingBy: y)
            case "==": return x == y ? 1 : 0
            case "!=": return x != y ? 1 : 0
            case "<": return x < y ? 1 : 0
            case "<=": return x <= y ? 1 : 0
            case ">": return x > y ? 1 : 0
            case ">=": return x >= y ? 1 : 0
            case "&&": return (x != 0 && y != 0) ? 1 : 0
            default: return (x != 0 || y != 0) ? 1 : 0
            }
        case .call(let f, let args):
            let values = args.compactMap { $0.evaluate(lookup) }
            guard values.count == args.count else { return nil }
            switch f {
            case "abs": return abs(values[0])
            case "round": return values[0].rounded()
            case "min": return values.min()
            default: return values.max()
            }
        }
    }

    /// Every name the expression reads.
    public var names: Set<String> {
        switch self {
        case .number: return []
        case .name(let n): return [n]
        case .unary(_, let e): return e.names
        case .binary(_, let a, let b): return a.names.union(b.names)
        case .call(_, let args): return args.reduce(into: Set<String>()) { $0.formUnion($1.names) }
        }
    }

    struct Parser {
        let characters: [Character]
        var index = 0

        func fail(_ message: String) -> MetricExpressionError {
            MetricExpressionError(text: String(characters), offset: index, message: message)
        }

        mutating func skipSpaces() { while index < characters.count && characters[index].isWhitespace { index += 1 } }

        mutating func take(_ token: String) -> Bool {
            skipSpaces()
            let t = Array(token)
            guard index + t.count <= characters.count, Array(characters[index..<(index + t.count)]) == t else {
                return false
            }
            // `<` must not swallow the first half of `<=`, nor `=` of `==`.
            if t.count == 1, index + 1 < characters.count, "<>=!".contains(t[0]), characters[index + 1] == "=" {
                return false
            }
            index += t.count
            return true
        }

        mutating func binaryLevel(_ operators: [String],
                                  _ next: (inout Parser) throws -> MetricExpression) throws -> MetricExpression {
            var left = try next(&self)
            while let op = operators.first(where: { take($0) }) { left = .binary(op, left, try next(&self)) }
            return left
        }

        mutating func parseOr() throws -> MetricExpression { try binaryLevel(["||"]) { try $0.parseAnd() } }
        mutating func parseAnd() throws -> MetricExpression { try binaryLevel(["&&"]) { try $0.parseComparison() } }
        mutating func parseComparison() throws -> MetricExpression {
            try binaryLevel(["==", "!=", "<=", ">=", "<", ">"]) { try $0.parseSum() }
        }
        mutating func parseSum() throws -> MetricExpression { try binaryLevel(["+", "-"]) { try $0.parseProduct() } }
        mutating func parseProduct() throws -> MetricExpression {
            try binaryLevel(["*", "/", "%"]) { try $0.parseUnary() }
        }

        mutating func parseUnary() throws -> MetricExpression {
            if take("-") { return .unary("-", try parseUnary()) }
            if take("!") { return .unary("!", try parseUnary()) }
            return try parseAtom()
        }

        mutating func parseAtom() throws -> MetricExpression {
            skipSpaces()
            guard index < characters.count else { throw fail("the expression ends too early") }
            if take("(") {
                let inner = try parseOr()
                guard take(")") else { throw fail("expected ')'") }
                return inner
            }
            let c = characters[index]
            if c.isNumber || c == "." {
                let start = index
                while index < characters.count && (characters[index].isNumber || characters[index] == ".") {
                    index += 1
                }
                guard let value = Double(String(characters[start..<index])) else {
                    throw fail("'\(String(characters[start..<index]))' is not a number")
                }
                return .number(value)
            }
            guard c.isLetter || c == "_" else { throw fail("unexpected '\(c)'") }
            let start = index
            while index < characters.count &&
                  (characters[index].isLetter || characters[index].isNumber || characters[index] == "_") {
                index += 1
            }
            let name = String(characters[start..<index])
            if take("(") {
                guard ["abs", "min", "max", "round"].contains(name) else {
                    throw fail("unknown function '\(name)'; use abs, min, max or round")
                }
                var args = [try parseOr()]
                while take(",") { args.append(try parseOr()) }
                guard take(")") else { throw fail("expected ')' after the arguments of \(name)") }
                if (name == "abs" || name == "round") && args.count != 1 { throw fail("\(name) takes one argument") }
                return .call(name, args)
            }
            return .name(name)
        }
    }
}

public struct MetricExpressionError: Error, Equatable, CustomStringConvertible {
    public let text: String
    public let offset: Int
    public let message: String
    public var description: String { "in '\(text)' at character \(offset + 1): \(message)" }
}

/// The numbers written in a text, in order ("12 + 7 = 19" → 12, 7, 19). A minus sign directly before a
/// digit that does not follow a digit or letter is part of the number.
public func numbersInText(_ text: String) -> [Double] {
    let characters = Array(text)
    var numbers: [Double] = []
    var i = 0
    while i < characters.count {
        let negative = characters[i] == "-" && i + 1 < characters.count && characters[i + 1].isASCII &&
            characters[i + 1].isNumber &&
            (i == 0 || !(characters[i - 1].isLetter || characters[i - 1].isNumber))
        if (characters[i].isASCII && characters[i].isNumber) || negative {
            let start = i
            i += negative ? 1 : 0
            while i < characters.count && characters[i].isASCII &&
                  (characters[i].isNumber ||
                   (characters[i] == "." && i + 1 < characters.count && characters[i + 1].isNumber)) {
                i += 1
            }
            if let v = Double(String(characters[start..<i])) { numbers.append(v) }
        } else {
            i += 1
        }
    }
    return numbers
}
