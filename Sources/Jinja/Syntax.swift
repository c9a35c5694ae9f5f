/// The syntax tree of a template: statements (`Node`) holding expressions (`Expr`).
indirect enum Expr {
    case literal(Value)
    case name(String)
    case list([Expr])
    case tuple([Expr])
    case dict([(Expr, Expr)])
    case attribute(Expr, String)
    case item(Expr, Expr)
    case slice(Expr, start: Expr?, stop: Expr?, step: Expr?)
    case call(Expr, Call)
    case filter(Expr, FilterCall)
    case test(Expr, name: String, negated: Bool, arguments: [Expr])
    case not(Expr)
    case negate(Expr)
    case plus(Expr)
    /// `+ - * / // % ** ~`
    case binary(String, Expr, Expr)
    case and(Expr, Expr)
    case or(Expr, Expr)
    /// A chain `a < b <= c`, as Python evaluates it.
    case compare(Expr, [(op: String, Expr)])
    /// `a if condition else b`; without `else` the result is undefined when false.
    case conditional(then: Expr, condition: Expr, otherwise: Expr?)
}

struct Call {
    var positional: [Expr]
    var keyword: [(String, Expr)]
}

struct FilterCall {
    var name: String
    var arguments: Call
    var line: Int
}

enum AssignTarget {
    case names([String])
    case attribute(object: String, name: String)
}

struct Macro {
    var name: String
    var parameters: [(name: String, defaultValue: Expr?)]
    var body: [Node]
}

struct Loop {
    var targets: [String]
    var iterable: Expr
    var filter: Expr?
    var body: [Node]
    var otherwise: [Node]
}

enum Node {
    case text(String)
    case output(Expr, line: Int)
    case ifChain([(condition: Expr, body: [Node])], otherwise: [Node], line: Int)
    case loop(Loop, line: Int)
    case assign(AssignTarget, Expr, line: Int)
    case assignBlock(String, filters: [FilterCall], body: [Node], line: Int)
    case macro(Macro, line: Int)
    case filterBlock([FilterCall], body: [Node], line: Int)
    case loopControl(isBreak: Bool, line: Int)
    /// Hugging Face's `{% generation %}` marks the assistant's text; it renders its body.
    case generation([Node])
}
