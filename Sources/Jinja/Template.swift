import Foundation

/// A parsed Jinja template, rendered the way Hugging Face renders chat templates
/// (Jinja2's immutable sandbox, `trim_blocks`, `lstrip_blocks`, loop controls, `{% generation %}`).
public struct Template {
    let nodes: [Node]

    /// Parses `source`; a syntax error or an unsupported statement is thrown with its line.
    public init(_ source: String) throws {
        var parser = try Parser(source)
        nodes = try parser.parseTemplate()
    }

    /// Renders with `context` as the template's variables; `now` is what `strftime_now` sees.
    public func render(_ context: Dict, now: Date = Date()) throws -> Text {
        let renderer = Renderer(context: context, now: now)
        _ = try renderer.execute(nodes)
        return renderer.output
    }
}

/// A parsed template is immutable: its literals are strings, numbers and containers of them.
extension Template: @unchecked Sendable {}

/// What a statement tells its enclosing loop.
enum Flow { case normal, breakLoop, continueLoop }

/// Executes a syntax tree: the scope chain, the output buffer, and the evaluation of expressions.
final class Renderer {
    /// Innermost last: 0 holds the globals, 1 the context and the template's own `set`s.
    var scopes: [[String: Value]]
    var output = Text("")
    var line: Int?
    let now: Date
    private var depth = 0

    static let maxDepth = 64
    /// The longest string or list a render may hold (scalars or items), and the total it may build:
    /// a template that doubles a string in a loop stops here instead of exhausting memory.
    static let maxLength = 1 << 22
    static let budget = 1 << 28
    private var spent = 0

    /// How deeply statements and expressions are being evaluated, macros included: the parser bounds
    /// one template's nesting, this bounds macros calling macros that nest (the stack's safety).
    private var nesting = 0
    static let maxNesting = 400

    private func descend() throws {
        nesting += 1
        guard nesting <= Renderer.maxNesting else {
            nesting -= 1
            throw fail(.limit, "statements and expressions nest more than \(Renderer.maxNesting) deep, macros included")
        }
    }

    /// Accounts for a string or list of `size` about to be built.
    func charge(_ requested: Int) throws {
        let size = max(0, requested)
        let (total, overflow) = spent.addingReportingOverflow(size)
        spent = total
        guard !overflow, size <= Renderer.maxLength, total <= Renderer.budget else {
            throw fail(.limit, "the template builds strings or lists beyond \(Renderer.maxLength >> 20) Mi items "
                + "(or \(Renderer.budget >> 20) Mi in all); it loops without end or doubles a value")
        }
    }

    init(context: Dict, now: Date) {
        self.now = now
        var top: [String: Value] = [:]
        for (key, value) in context.pairs { top[key.text.string] = value }
        scopes = [[:], top]
        scopes[0] = Builtins.globals(self)
    }

    func fail(_ kind: JinjaError.Kind, _ message: String) -> JinjaError { JinjaError(kind, message, line: line) }

    // MARK: statements

    func execute(_ nodes: [Node]) throws -> Flow {
        try descend()
        defer { nesting -= 1 }
        for node in nodes {
            let flow = try execute(node)
            if flow != .normal { return flow }
        }
        return .normal
    }

    private func execute(_ node: Node) throws -> Flow {
        switch node {
        case .text(let text):
            try emit(Text(text))
        case .output(let expr, let line):
            self.line = line
            try emit(try evaluate(expr).text)
        case .ifChain(let branches, let otherwise, let line):
            self.line = line
            for branch in branches where try evaluate(branch.condition).isTruthy {
                return try execute(branch.body)
            }
            return try execute(otherwise)
        case .loop(let loop, let line):
            self.line = line
            try run(loop)
        case .assign(let target, let expr, let line):
            self.line = line
            try assign(target, try evaluate(expr))
        case .assignBlock(let name, let filters, let body, let line):
            scopes[scopes.count - 1][name] = try filtered(body, filters, line: line)
        case .macro(let macro, _):
            scopes[scopes.count - 1][macro.name] = .function(makeMacro(macro))
        case .filterBlock(let filters, let body, let line):
            try emit(try filtered(body, filters, line: line).text)
        case .loopControl(let isBreak, _):
            return isBreak ? .breakLoop : .continueLoop
        case .generation(let body):
            // transformers runs it as a call block: a scope of its own, the same text.
            scopes.append([:])
            defer { scopes.removeLast() }
            _ = try execute(body)
        }
        return .normal
    }

    func emit(_ text: Text) throws {
        try charge(text.count)
        output.append(text)
        if output.count > Renderer.maxLength {
            throw fail(.limit, "the rendering exceeds \(Renderer.maxLength >> 20) Mi characters; " +
                       "the template loops without end")
        }
    }

    /// A block's rendering through its filters (`{% set x | f %}…`, `{% filter f %}…`).
    private func filtered(_ body: [Node], _ filters: [FilterCall], line: Int) throws -> Value {
        var value = Value.string(try capture(body))
        self.line = line
        for filter in filters { value = try Builtins.filter(filter, value, self) }
        return value
    }

    /// Renders `nodes` into a string of their own, as `{% set %}` blocks, filters and macros do.
    func capture(_ nodes: [Node]) throws -> Text {
        let saved = output
        output = Text("")
        defer { output = saved }
        _ = try execute(nodes)
        return output
    }

    private func run(_ loop: Loop) throws {
        var items = try iterate(try evaluate(loop.iterable))
        if let filter = loop.filter {
            items = try items.filter { item in
                scopes.append(try bind(loop.targets, item))
                defer { scopes.removeLast() }
                return try evaluate(filter).isTruthy
            }
        }
        if items.isEmpty {
            scopes.append([:])
            defer { scopes.removeLast() }
            _ = try execute(loop.otherwise)
            return
        }
        for (index, item) in items.enumerated() {
            var scope = try bind(loop.targets, item)
            scope["loop"] = loopObject(index: index, items: items)
            scopes.append(scope)
            defer { scopes.removeLast() }
            if try execute(loop.body) == .breakLoop { break }
        }
    }

    /// The names of a `for` or `set` target bound to `value` (unpacked when there are several).
    private func bind(_ names: [String], _ value: Value) throws -> [String: Value] {
        guard names.count > 1 else { return [names[0]: value] }
        let items = try iterate(value)
        guard items.count == names.count else {
            let problem = items.count > names.count ? "too many values to unpack" : "not enough values to unpack"
            throw fail(.value, "\(problem) (expected \(names.count), got \(items.count))")
        }
        // Python binds left to right, so a repeated name keeps the last value.
        return Dictionary(zip(names, items), uniquingKeysWith: { $1 })
    }

    private func loopObject(index: Int, items: [Value]) -> Value {
        let count = items.count
        var loop = Dict()
        loop["index"] = .int(index + 1)
        loop["index0"] = .int(index)
        loop["revindex"] = .int(count - index)
        loop["revindex0"] = .int(count - index - 1)
        loop["first"] = .bool(index == 0)
        loop["last"] = .bool(index == count - 1)
        loop["length"] = .int(count)
        loop["depth"] = .int(1)
        loop["depth0"] = .int(0)
        loop["previtem"] = index > 0 ? items[index - 1] : .undefined(hint: "there is no previous item")
        loop["nextitem"] = index + 1 < count ? items[index + 1] : .undefined(hint: "there is no next item")
        loop["cycle"] = .function(Function(name: "loop.cycle") { [unowned self] arguments in
            guard !arguments.positional.isEmpty else { throw self.fail(.type, "no items for cycling given") }
            return arguments.positional[index % arguments.positional.count]
        })
        return .dict(loop)
    }

    private func assign(_ target: AssignTarget, _ value: Value) throws {
        switch target {
        case .names(let names):
            for (name, item) in try bind(names, value) { scopes[scopes.count - 1][name] = item }
        case .attribute(let object, let name):
            guard case .namespace(let namespace) = lookup(object) else {
                throw fail(.runtime, "cannot assign attribute on non-namespace object")
            }
            guard !name.hasPrefix("_") else { throw fail(.security, "a namespace cannot store '\(name)'") }
            namespace.attributes[name] = value
        }
    }

    private func makeMacro(_ macro: Macro) -> Function {
        Function(name: macro.name) { [unowned self] arguments in
            guard arguments.positional.count <= macro.parameters.count else {
                throw self.fail(.type, "macro '\(macro.name)' takes not more than " +
                                "\(macro.parameters.count) argument(s)")
            }
            for (name, _) in arguments.keyword where !macro.parameters.contains(where: { $0.name == name }) {
                throw self.fail(.type, "macro '\(macro.name)' takes no keyword argument '\(name)'")
            }
            self.depth += 1
            defer { self.depth -= 1 }
            guard self.depth <= Renderer.maxDepth else {
                throw self.fail(.limit, "macros call each other more than \(Renderer.maxDepth) deep")
            }
            let saved = self.scopes
            defer { self.scopes = saved }
            self.scopes = [saved[0], saved[1], [:]]
            for (position, parameter) in macro.parameters.enumerated() {
                let value: Value
                if let given = arguments.value(position, parameter.name) {
                    value = given
                } else if let defaultValue = parameter.defaultValue {
                    value = try self.evaluate(defaultValue)
                } else {
                    value = .undefined(hint: "'\(parameter.name)' is undefined")
                }
                self.scopes[2][parameter.name] = value
            }
            return .string(try self.capture(macro.body))
        }
    }

    // MARK: expressions

    func lookup(_ name: String) -> Value {
        for scope in scopes.reversed() { if let value = scope[name] { return value } }
        return .undefined(hint: "'\(name)' is undefined")
    }

    /// Raises the undefined value's error, for the operations Jinja2's Undefined refuses.
    func defined(_ value: Value) throws -> Value {
        if case .undefined(let hint) = value { throw fail(.undefined, hint) }
        return value
    }

    /// The value of `expr`; one nested deeper than `Value.maxDepth` is refused (a template that wraps a
    /// value in itself in a loop), so that no value is too deep to print, compare or free.
    func evaluate(_ expr: Expr) throws -> Value {
        try descend()
        defer { nesting -= 1 }
        let value = try compute(expr)
        switch value {
        case .string(let s) where s.count > Renderer.maxLength: try charge(s.count)
        case .list(let items) where items.count > Renderer.maxLength,
             .tuple(let items) where items.count > Renderer.maxLength:
            try charge(items.count)
        default: break
        }
        guard value.depth <= Value.maxDepth else {
            throw fail(.limit, "a value nests lists, dicts or namespaces more than \(Value.maxDepth) deep")
        }
        return value
    }

    private func compute(_ expr: Expr) throws -> Value {
        switch expr {
        case .literal(let value): return value
        case .name(let name): return lookup(name)
        case .list(let items): return .list(try items.map(evaluate))
        case .tuple(let items): return .tuple(try items.map(evaluate))
        case .dict(let pairs):
            var dict = Dict()
            for (keyExpr, valueExpr) in pairs {
                let key = try evaluate(keyExpr)
                guard Dict.isHashable(key) else { throw fail(.type, "unhashable type: '\(key.typeName)'") }
                dict[key] = try evaluate(valueExpr)
            }
            return .dict(dict)
        case .attribute(let base, let name):
            return try Builtins.attribute(try defined(try evaluate(base)), name, self)
        case .item(let base, let key):
            return try Builtins.item(try defined(try evaluate(base)), try evaluate(key), self)
        case .slice(let base, let start, let stop, let step):
            return try slice(try defined(try evaluate(base)), start: start.map(evaluate),
                             stop: stop.map(evaluate), step: step.map(evaluate))
        case .call(let callee, let call):
            let function = try defined(try evaluate(callee))
            guard case .function(let f) = function else {
                throw fail(.type, "'\(function.typeName)' object is not callable")
            }
            return try f.call(try arguments(call))
        case .filter(let base, let filter):
            return try Builtins.filter(filter, try evaluate(base), self)
        case .test(let base, let name, let negated, let arguments):
            let result = try Builtins.test(name, try evaluate(base), try arguments.map(evaluate), self)
            return .bool(result != negated)
        case .not(let operand):
            return .bool(!(try evaluate(operand).isTruthy))
        case .negate(let operand):
            let value = try defined(try evaluate(operand))
            if case .int(let i) = value {
                guard i != .min else { throw fail(.limit, "the integer -(\(i)) is beyond 64 bits") }
                return .int(-i)
            }
            if case .bool(let b) = value { return .int(b ? -1 : 0) }
            if case .double(let d) = value { return .double(-d) }
            throw fail(.type, "bad operand type for unary -: '\(value.typeName)'")
        case .plus(let operand):
            let value = try defined(try evaluate(operand))
            guard value.number != nil else { throw fail(.type, "bad operand type for unary +: '\(value.typeName)'") }
            return value
        case .binary(let op, let left, let right):
            return try Operators.binary(op, try evaluate(left), try evaluate(right), self)
        case .and(let left, let right):
            let value = try evaluate(left)
            return value.isTruthy ? try evaluate(right) : value
        case .or(let left, let right):
            let value = try evaluate(left)
            return value.isTruthy ? value : try evaluate(right)
        case .compare(let first, let chain):
            var left = try evaluate(first)
            for (op, rightExpr) in chain {
                let right = try evaluate(rightExpr)
                guard try Operators.compare(op, left, right, self) else { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .conditional(let then, let condition, let otherwise):
            if try evaluate(condition).isTruthy { return try evaluate(then) }
            return try otherwise.map(evaluate) ??
                .undefined(hint: "the inline if-expression evaluated to false and no else section was defined")
        }
    }

    func arguments(_ call: Call) throws -> Arguments {
        Arguments(positional: try call.positional.map(evaluate),
                  keyword: try call.keyword.map { ($0.0, try evaluate($0.1)) })
    }

    /// Python's iteration: a dict gives its keys, a string its characters, undefined nothing.
    func iterate(_ value: Value) throws -> [Value] {
        switch value {
        case .undefined: return []
        case .list(let items), .tuple(let items): return items.values
        case .dict(let dict): return dict.keys
        case .string(let text): return text.slices((0..<text.count).map { $0..<($0 + 1) }).map { .string($0) }
        default: throw fail(.type, "'\(value.typeName)' object is not iterable")
        }
    }

    /// Python's `seq[start:stop:step]` on lists, tuples and strings.
    private func slice(_ value: Value, start: Value?, stop: Value?, step: Value?) throws -> Value {
        func bound(_ v: Value?) throws -> Int? {
            guard let v else { return nil }
            if case .none = v { return nil }
            if v.isUndefined { return nil }
            guard let i = v.integer else { throw fail(.type, "slice indices must be integers or None") }
            return i
        }
        let stride = try bound(step) ?? 1
        guard stride != 0 else { throw fail(.value, "slice step cannot be zero") }
        let count: Int
        switch value {
        case .list(let l), .tuple(let l): count = l.count
        case .string(let s): count = s.count
        default: throw fail(.type, "'\(value.typeName)' object is not subscriptable")
        }
        func clamp(_ i: Int?, _ fallback: Int) -> Int {
            guard var i else { return fallback }
            if i < 0 { i += count }
            return stride > 0 ? min(max(i, 0), count) : min(max(i, -1), count - 1)
        }
        let from = clamp(try bound(start), stride > 0 ? 0 : count - 1)
        let to = clamp(try bound(stop), stride > 0 ? count : -1)
        let indices = Array(Swift.stride(from: from, to: to, by: stride))
        switch value {
        case .list(let l): return .list(indices.map { l[$0] })
        case .tuple(let t): return .tuple(indices.map { t[$0] })
        case .string(let s):
            if stride == 1 { return .string(s.slice(from..<max(from, to))) }
            let scalars = s.scalars
            return .string(s.transformed(String(String.UnicodeScalarView(indices.map { scalars[$0] }))))
        default: return .none
        }
    }
}
