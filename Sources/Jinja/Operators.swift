import Foundation

/// Python's arithmetic, concatenation and comparison operators, as Jinja2 evaluates them.
enum Operators {
    static func binary(_ op: String, _ a: Value, _ b: Value, _ r: Renderer) throws -> Value {
        if op == "~" {
            let (x, y) = (a.text, b.text)
            try r.charge(x.count + y.count)
            return .string(x + y)
        }
        let a = try r.defined(a), b = try r.defined(b)
        func unsupported() -> JinjaError {
            r.fail(.type, "unsupported operand type(s) for \(op): '\(a.typeName)' and '\(b.typeName)'")
        }
        func checked(_ result: (partialValue: Int, overflow: Bool)) throws -> Value {
            guard !result.overflow else { throw r.fail(.limit, "integer overflow in '\(op)'") }
            return .int(result.partialValue)
        }
        switch (op, a, b) {
        case ("+", .string(let x), .string(let y)):
            try r.charge(x.count + y.count)
            return .string(x + y)
        case ("+", .string, _): throw r.fail(.type, "can only concatenate str (not \"\(b.typeName)\") to str")
        case ("+", .list(let x), .list(let y)):
            try r.charge(x.count + y.count)
            return .list(x.values + y.values)
        case ("+", .tuple(let x), .tuple(let y)):
            try r.charge(x.count + y.count)
            return .tuple(x.values + y.values)
        case ("*", .string(let s), _) where b.integer != nil, ("*", _, .string(let s)) where a.integer != nil:
            let times = max(0, (a.integer ?? b.integer)!)
            try r.charge(times)
            try r.charge(s.count.multipliedReportingOverflow(by: times).overflow ? .max : s.count * times)
            return .string(Text.joined(Array(repeating: s, count: times)))
        case ("*", .list(let l), _) where b.integer != nil:
            let times = max(0, b.integer!)
            try r.charge(times)
            try r.charge(l.count.multipliedReportingOverflow(by: times).overflow ? .max : l.count * times)
            return .list(Array((0..<times).map { _ in l.values }.joined()))
        case ("%", .string(let format), _):
            return .string(try percentFormat(format, b, r))
        default:
            break
        }
        if let x = a.integer, let y = b.integer {
            switch op {
            case "+": return try checked(x.addingReportingOverflow(y))
            case "-": return try checked(x.subtractingReportingOverflow(y))
            case "*": return try checked(x.multipliedReportingOverflow(by: y))
            case "/":
                guard y != 0 else { throw r.fail(.zeroDivision, "division by zero") }
                return .double(Double(x) / Double(y))
            case "//", "%":
                guard y != 0 else { throw r.fail(.zeroDivision, "integer division or modulo by zero") }
                guard !(x == .min && y == -1) else { throw r.fail(.limit, "integer overflow in '\(op)'") }
                var quotient = x / y, remainder = x % y
                if remainder != 0 && (remainder < 0) != (y < 0) { quotient -= 1; remainder += y }
                return .int(op == "//" ? quotient : remainder)
            case "**":
                if y < 0 { return .double(pow(Double(x), Double(y))) }
                switch x {
                case 0: return .int(y == 0 ? 1 : 0)
                case 1: return .int(1)
                case -1: return .int(y % 2 == 0 ? 1 : -1)
                default:
                    // |x| >= 2 overflows within 63 steps, so the loop is short.
                    var result = 1
                    for _ in 0..<y { result = try checked(result.multipliedReportingOverflow(by: x)).integer! }
                    return .int(result)
                }
            default: throw unsupported()
            }
        }
        guard let x = a.number, let y = b.number else { throw unsupported() }
        switch op {
        case "+": return .double(x + y)
        case "-": return .double(x - y)
        case "*": return .double(x * y)
        case "/":
            guard y != 0 else { throw r.fail(.zeroDivision, "float division by zero") }
            return .double(x / y)
        case "//":
            guard y != 0 else { throw r.fail(.zeroDivision, "float floor division by zero") }
            return .double((x / y).rounded(.down))
        case "%":
            guard y != 0 else { throw r.fail(.zeroDivision, "float modulo") }
            let m = fmod(x, y)
            return .double(m != 0 && (m < 0) != (y < 0) ? m + y : m)
        case "**": return .double(pow(x, y))
        default: throw unsupported()
        }
    }

    static func compare(_ op: String, _ a: Value, _ b: Value, _ r: Renderer) throws -> Bool {
        switch op {
        case "==": return Value.equal(a, b)
        case "!=": return !Value.equal(a, b)
        case "in": return try contains(b, a, r)
        case "not in": return !(try contains(b, a, r))
        default: break
        }
        let a = try r.defined(a), b = try r.defined(b)
        do {
            switch op {
            case "<": return try Value.less(a, b, op: op)
            case ">": return try Value.less(b, a, op: op)
            case "<=": return try !Value.less(b, a, op: op)
            case ">=": return try !Value.less(a, b, op: op)
            default: throw r.fail(.syntax, "unknown comparison '\(op)'")
            }
        } catch var error as JinjaError {
            error.line = r.line
            throw error
        }
    }

    /// Python's `needle in container`.
    static func contains(_ container: Value, _ needle: Value, _ r: Renderer) throws -> Bool {
        switch container {
        case .undefined: return false
        case .string(let haystack):
            guard case .string(let part) = needle else {
                throw r.fail(.type, "'in <string>' requires string as left operand, not \(needle.typeName)")
            }
            return part.isEmpty || !haystack.occurrences(of: part, limit: 1).isEmpty
        case .list(let items), .tuple(let items): return items.contains { Value.equal($0, needle) }
        case .dict(let dict):
            if needle.isUndefined { return false }  // Undefined hashes by identity: never a key
            guard Dict.isHashable(needle) else { throw r.fail(.type, "unhashable type: '\(needle.typeName)'") }
            return dict[needle] != nil
        default:
            throw r.fail(.type, "argument of type '\(container.typeName)' is not iterable")
        }
    }

    /// Python's `format % values` for %s, %r, %d, %i, %f and %%.
    static func percentFormat(_ format: Text, _ values: Value, _ r: Renderer) throws -> Text {
        var arguments: [Value]
        if case .tuple(let items) = values { arguments = items.values } else { arguments = [values] }
        var pieces: [Text] = []
        let scalars = format.scalars
        var start = 0, i = 0
        while i < scalars.count {
            guard scalars[i] == "%", i + 1 < scalars.count else { i += 1; continue }
            pieces.append(format.slice(start..<i))
            let directive = scalars[i + 1]
            if directive == "%" {
                pieces.append(Text("%"))
            } else {
                guard !arguments.isEmpty else { throw r.fail(.type, "not enough arguments for format string") }
                let argument = arguments.removeFirst()
                switch directive {
                case "s": pieces.append(argument.text)
                case "r": pieces.append(argument.text.transformed(argument.python(repr: true)))
                case "d", "i":
                    if let i = argument.integer { pieces.append(Text(String(i))); break }
                    guard let n = argument.number, let i = Int(exactly: n.rounded(.towardZero)) else {
                        throw r.fail(.type, "%d format: a real number is required, not \(argument.typeName)")
                    }
                    pieces.append(Text(String(i)))
                case "f":
                    guard let n = argument.number else {
                        throw r.fail(.type, "must be real number, not \(argument.typeName)")
                    }
                    pieces.append(Text(String(format: "%f", n)))
                default:
                    throw r.fail(.unsupported, "the '%\(directive)' conversion of the % operator")
                }
            }
            i += 2
            start = i
        }
        pieces.append(format.slice(start..<scalars.count))
        guard arguments.isEmpty else { throw r.fail(.type, "not all arguments converted during string formatting") }
        try r.charge(pieces.reduce(0) { $0 + $1.count })
        return Text.joined(pieces)
    }
}
