/// Builds the syntax tree from the lexer's chunks, with Jinja2's grammar and precedence:
///
///     conditional := or ('if' or ('else' conditional)?)?
///     or := and ('or' and)*            and := not ('and' not)*
///     not := 'not' not | compare       compare := sum (('=='|'!='|'<'|…|'in'|'not in') sum)*
///     sum := concat (('+'|'-') concat)*   concat := product ('~' product)*
///     product := power (('*'|'/'|'//'|'%') power)*   power := unary ('**' unary)*
///     unary := ('-'|'+') unary | primary postfix*, then ('|' filter | 'is' test)*
struct Parser {
    private var chunks: [Chunk]
    private var index = 0
    /// Inside an `if` (its conditions and bodies) or a conditional expression, Jinja2 defers "no such
    /// filter" to run time; a `for`, `macro`, `filter`, block `set` or `generation` body starts afresh.
    private var softDepth = 0
    /// Unknown filters and tests met outside those places, raised when their tag is parsed (a name in
    /// the first part of `x if c else y` turns out to be soft, so it cannot be raised at once).
    private var unknownNames: [JinjaError] = []
    /// How many `for` bodies enclose this point; `break` and `continue` need one (a macro's body, or
    /// `generation`'s, is a function of its own).
    private var loopDepth = 0

    /// Parses a body that Jinja2 compiles in a frame of its own: not soft, and (for functions) not in a loop.
    private mutating func freshFrame<T>(leavingLoops: Bool, _ body: (inout Parser) throws -> T) throws -> T {
        let (soft, loops) = (softDepth, loopDepth)
        softDepth = 0
        if leavingLoops { loopDepth = 0 }
        defer { (softDepth, loopDepth) = (soft, loops) }
        return try body(&self)
    }
    /// How deeply statements and expressions nest here; bounded, so that the parser's recursion (and
    /// the evaluation's, which follows the tree) cannot exhaust the stack.
    private var depth = 0
    static let maxDepth = 200

    /// One more link in a chain (`a + b + …`, `x | f | g`, `a.b[c]`): each is a level of the tree.
    private mutating func deeper(_ line: Int) throws {
        depth += 1
        guard depth <= Parser.maxDepth else {
            throw JinjaError(.limit, "the template nests statements or expressions more than \(Parser.maxDepth) deep",
                             line: line)
        }
    }

    /// Runs `body` one level deeper.
    private mutating func nested<T>(line: Int, _ body: (inout Parser) throws -> T) throws -> T {
        try deeper(line)
        defer { depth -= 1 }
        return try body(&self)
    }

    init(_ template: String) throws {
        var lexer = Lexer(template)
        chunks = try lexer.chunks()
    }

    mutating func parseTemplate() throws -> [Node] {
        let (body, end) = try parseBody(until: [])
        if let end { throw JinjaError(.syntax, "unexpected '\(end.name)'", line: end.line) }
        return body
    }

    // MARK: statements

    /// Nodes up to a `{% name %}` in `ends`, which is returned with its remaining tokens.
    private mutating func parseBody(
        until ends: Set<String>
    ) throws -> ([Node], (name: String, tokens: TokenStream, line: Int)?) {
        var nodes: [Node] = []
        while index < chunks.count {
            let chunk = chunks[index]
            index += 1
            switch chunk {
            case .text(let text, _):
                nodes.append(.text(text))
            case .output(let tokens, let line):
                var stream = TokenStream(tokens, line: line)
                let expr = try parseTupleOrExpression(&stream)
                try stream.expectEnd()
                try raiseUnknownNames()
                nodes.append(.output(expr, line: line))
            case .statement(let tokens, let line):
                var stream = TokenStream(tokens, line: line)
                guard let keyword = stream.next(), keyword.kind == .name else {
                    throw JinjaError(.syntax, "a block tag needs a statement name", line: line)
                }
                if ends.contains(keyword.text) { return (nodes, (keyword.text, stream, line)) }
                nodes.append(try nested(line: line) {
                    try $0.parseStatement(keyword.text, &stream, line: line, enclosing: ends)
                })
                try raiseUnknownNames()
            }
        }
        if let first = ends.sorted().first(where: { $0.hasPrefix("end") }) {
            throw JinjaError(.syntax, "unexpected end of template, expected '\(first)'", line: nil)
        }
        return (nodes, nil)
    }

    private mutating func raiseUnknownNames() throws {
        if let first = unknownNames.first { throw first }
    }

    private mutating func parseStatement(_ keyword: String, _ stream: inout TokenStream, line: Int,
                                         enclosing: Set<String>) throws -> Node {
        switch keyword {
        case "if": return try parseIf(&stream, line: line)
        case "for": return try parseFor(&stream, line: line)
        case "set": return try parseSet(&stream, line: line)
        case "macro": return try parseMacro(&stream, line: line)
        case "filter":
            let filters = try parseFilterChain(&stream, first: true)
            try stream.expectEnd()
            let (body, _) = try freshFrame(leavingLoops: false) { try $0.parseBody(until: ["endfilter"]) }
            return .filterBlock(filters, body: body, line: line)
        case "break", "continue":
            try stream.expectEnd()
            guard loopDepth > 0 else { throw JinjaError(.pythonSyntax, "'\(keyword)' outside loop", line: line) }
            return .loopControl(isBreak: keyword == "break", line: line)
        case "generation":
            try stream.expectEnd()
            let (body, _) = try freshFrame(leavingLoops: true) { try $0.parseBody(until: ["endgeneration"]) }
            return .generation(body)
        case "elif", "else", "endif", "endfor", "endset", "endmacro", "endfilter", "endgeneration", "endraw":
            throw JinjaError(.syntax, "unexpected '\(keyword)'", line: line)
        case "call", "include", "import", "from", "extends", "block", "with", "autoescape", "do", "trans":
            throw JinjaError(.unsupported, "the '{% \(keyword) %}' statement", line: line)
        default:
            throw JinjaError(.syntax, "encountered unknown tag '\(keyword)'", line: line)
        }
    }

    private mutating func parseIf(_ stream: inout TokenStream, line: Int) throws -> Node {
        var branches: [(Expr, [Node])] = []
        var otherwise: [Node] = []
        softDepth += 1
        defer { softDepth -= 1 }
        var condition = try parseExpression(&stream)
        try stream.expectEnd()
        while true {
            let (body, end) = try parseBody(until: ["elif", "else", "endif"])
            branches.append((condition, body))
            guard let end else { break }
            var rest = end.tokens
            switch end.name {
            case "elif":
                condition = try parseExpression(&rest)
                try rest.expectEnd()
                continue
            case "else":
                try rest.expectEnd()
                let (elseBody, _) = try parseBody(until: ["endif"])
                otherwise = elseBody
            default:
                try rest.expectEnd()
            }
            break
        }
        return .ifChain(branches, otherwise: otherwise, line: line)
    }

    private mutating func parseFor(_ stream: inout TokenStream, line: Int) throws -> Node {
        let targets = try parseTargetNames(&stream)
        try stream.expect(name: "in")
        let iterable = try parseTupleOrExpression(&stream, withCondition: false)
        var filter: Expr?
        if stream.skip(name: "if") { filter = try freshFrame(leavingLoops: false) { try $0.parseExpression(&stream) } }
        if stream.peekName("recursive") { throw JinjaError(.unsupported, "a recursive for loop", line: line) }
        try stream.expectEnd()
        let (body, end) = try freshFrame(leavingLoops: false) { parser in
            parser.loopDepth += 1
            return try parser.parseBody(until: ["else", "endfor"])
        }
        var otherwise: [Node] = []
        if end?.name == "else" {
            otherwise = try freshFrame(leavingLoops: false) { try $0.parseBody(until: ["endfor"]).0 }
        }
        return .loop(Loop(targets: targets, iterable: iterable, filter: filter, body: body, otherwise: otherwise),
                     line: line)
    }

    private mutating func parseTargetNames(_ stream: inout TokenStream) throws -> [String] {
        let parenthesised = stream.skip(op: "(")
        var names = [try stream.expectName()]
        while stream.skip(op: ",") {
            if parenthesised && stream.peekOp(")") { break }
            names.append(try stream.expectName())
        }
        if parenthesised { try stream.expect(op: ")") }
        return names
    }

    private mutating func parseSet(_ stream: inout TokenStream, line: Int) throws -> Node {
        let first = try stream.expectName()
        if stream.skip(op: ".") {
            let attribute = try stream.expectName()
            try stream.expect(op: "=")
            let value = try parseTupleOrExpression(&stream)
            try stream.expectEnd()
            return .assign(.attribute(object: first, name: attribute), value, line: line)
        }
        var names = [first]
        while stream.skip(op: ",") { names.append(try stream.expectName()) }
        if stream.skip(op: "=") {
            let value = try parseTupleOrExpression(&stream)
            try stream.expectEnd()
            return .assign(.names(names), value, line: line)
        }
        guard names.count == 1 else { throw JinjaError(.syntax, "a block set assigns one name", line: line) }
        let filters = stream.peekOp("|") ? try parseFilterChain(&stream, first: false) : []
        try stream.expectEnd()
        let (body, _) = try freshFrame(leavingLoops: false) { try $0.parseBody(until: ["endset"]) }
        return .assignBlock(first, filters: filters, body: body, line: line)
    }

    private mutating func parseMacro(_ stream: inout TokenStream, line: Int) throws -> Node {
        let name = try stream.expectName()
        try stream.expect(op: "(")
        var parameters: [(String, Expr?)] = []
        while !stream.skip(op: ")") {
            if !parameters.isEmpty { try stream.expect(op: ",") }
            if stream.skip(op: ")") { break }
            let parameter = try stream.expectName()
            let defaultValue = stream.skip(op: "=") ? try parseExpression(&stream) : nil
            parameters.append((parameter, defaultValue))
        }
        try stream.expectEnd()
        let (body, _) = try freshFrame(leavingLoops: true) { try $0.parseBody(until: ["endmacro"]) }
        return .macro(Macro(name: name, parameters: parameters, body: body), line: line)
    }

    /// `name(args) | name2 …` after `{% filter` (first: true) or after `{% set x` (starting at '|').
    private mutating func parseFilterChain(_ stream: inout TokenStream, first: Bool) throws -> [FilterCall] {
        var filters: [FilterCall] = []
        var needsBar = !first
        while !stream.atEnd {
            if needsBar { try stream.expect(op: "|") }
            needsBar = true
            filters.append(try parseFilterCall(&stream))
        }
        return filters
    }

    // MARK: expressions

    /// An expression, or a bare tuple `a, b` where Jinja2 allows one.
    private mutating func parseTupleOrExpression(_ stream: inout TokenStream,
                                                 withCondition: Bool = true) throws -> Expr {
        let first = withCondition ? try parseExpression(&stream) : try parseOr(&stream)
        guard stream.peekOp(",") else { return first }
        var items = [first]
        while stream.skip(op: ",") {
            if stream.atEnd || stream.peekName("if") { break }
            items.append(withCondition ? try parseExpression(&stream) : try parseOr(&stream))
        }
        return .tuple(items)
    }

    mutating func parseExpression(_ stream: inout TokenStream) throws -> Expr {
        try nested(line: stream.line) { try $0.parseConditional(&stream) }
    }

    private mutating func parseConditional(_ stream: inout TokenStream) throws -> Expr {
        let unknownBefore = unknownNames.count
        let value = try parseOr(&stream)
        guard stream.skip(name: "if") else { return value }
        unknownNames.removeLast(unknownNames.count - unknownBefore)  // the first part is soft too
        softDepth += 1
        defer { softDepth -= 1 }
        let condition = try parseOr(&stream)
        let otherwise = stream.skip(name: "else") ? try parseExpression(&stream) : nil
        return .conditional(then: value, condition: condition, otherwise: otherwise)
    }

    private mutating func parseOr(_ stream: inout TokenStream) throws -> Expr {
        let start = depth
        defer { depth = start }
        var left = try parseAnd(&stream)
        while stream.skip(name: "or") {
            try deeper(stream.line)
            left = .or(left, try parseAnd(&stream))
        }
        return left
    }

    private mutating func parseAnd(_ stream: inout TokenStream) throws -> Expr {
        let start = depth
        defer { depth = start }
        var left = try parseNot(&stream)
        while stream.skip(name: "and") {
            try deeper(stream.line)
            left = .and(left, try parseNot(&stream))
        }
        return left
    }

    private mutating func parseNot(_ stream: inout TokenStream) throws -> Expr {
        if stream.skip(name: "not") { return .not(try nested(line: stream.line) { try $0.parseNot(&stream) }) }
        return try parseCompare(&stream)
    }

    private mutating func parseCompare(_ stream: inout TokenStream) throws -> Expr {
        let left = try parseSum(&stream)
        var chain: [(op: String, Expr)] = []
        while true {
            if let op = ["==", "!=", "<", ">", "<=", ">="].first(where: { stream.peekOp($0) }) {
                stream.advance()
                chain.append((op, try parseSum(&stream)))
            } else if stream.skip(name: "in") {
                chain.append(("in", try parseSum(&stream)))
            } else if stream.peekName("not"), stream.peekName("in", offset: 1) {
                stream.advance()
                stream.advance()
                chain.append(("not in", try parseSum(&stream)))
            } else {
                break
            }
        }
        return chain.isEmpty ? left : .compare(left, chain)
    }

    private mutating func parseBinary(_ stream: inout TokenStream, ops: [String],
                                      next: (inout Parser, inout TokenStream) throws -> Expr) throws -> Expr {
        let start = depth
        defer { depth = start }
        var left = try next(&self, &stream)
        while let op = ops.first(where: { stream.peekOp($0) }) {
            try deeper(stream.line)
            stream.advance()
            left = .binary(op, left, try next(&self, &stream))
        }
        return left
    }

    private mutating func parseSum(_ stream: inout TokenStream) throws -> Expr {
        try parseBinary(&stream, ops: ["+", "-"]) { try $0.parseConcat(&$1) }
    }

    private mutating func parseConcat(_ stream: inout TokenStream) throws -> Expr {
        try parseBinary(&stream, ops: ["~"]) { try $0.parseProduct(&$1) }
    }

    private mutating func parseProduct(_ stream: inout TokenStream) throws -> Expr {
        try parseBinary(&stream, ops: ["*", "/", "//", "%"]) { try $0.parsePower(&$1) }
    }

    private mutating func parsePower(_ stream: inout TokenStream) throws -> Expr {
        try parseBinary(&stream, ops: ["**"]) { try $0.parseUnary(&$1, withFilters: true) }
    }

    private mutating func parseUnary(_ stream: inout TokenStream, withFilters: Bool) throws -> Expr {
        var node: Expr
        if stream.skip(op: "-") {
            node = .negate(try nested(line: stream.line) { try $0.parseUnary(&stream, withFilters: false) })
        } else if stream.skip(op: "+") {
            node = .plus(try nested(line: stream.line) { try $0.parseUnary(&stream, withFilters: false) })
        } else {
            node = try parsePostfix(&stream, try parsePrimary(&stream))
        }
        if withFilters { node = try parseFiltersAndTests(&stream, node) }
        return node
    }

    private mutating func parsePrimary(_ stream: inout TokenStream) throws -> Expr {
        guard let token = stream.next() else { throw stream.error("unexpected end of expression") }
        switch token.kind {
        case .name:
            switch token.text {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(token.text)
            }
        case .string:
            var text = token.text
            while let next = stream.peek, next.kind == .string { text += next.text; stream.advance() }
            return .literal(.string(text))
        case .integer:
            guard let value = Int(token.text) else {
                throw stream.error("integer literal \(token.text) is out of range")
            }
            return .literal(.int(value))
        case .float:
            return .literal(.double(Double(token.text) ?? .nan))
        case .op:
            switch token.text {
            case "(":
                if stream.skip(op: ")") { return .tuple([]) }
                let first = try parseExpression(&stream)
                if stream.skip(op: ")") { return first }
                var items = [first]
                while stream.skip(op: ",") {
                    if stream.peekOp(")") { break }
                    items.append(try parseExpression(&stream))
                }
                try stream.expect(op: ")")
                return .tuple(items)
            case "[":
                var items: [Expr] = []
                while !stream.skip(op: "]") {
                    if !items.isEmpty { try stream.expect(op: ","); if stream.skip(op: "]") { break } }
                    items.append(try parseExpression(&stream))
                }
                return .list(items)
            case "{":
                var pairs: [(Expr, Expr)] = []
                while !stream.skip(op: "}") {
                    if !pairs.isEmpty { try stream.expect(op: ","); if stream.skip(op: "}") { break } }
                    let key = try parseExpression(&stream)
                    try stream.expect(op: ":")
                    pairs.append((key, try parseExpression(&stream)))
                }
                return .dict(pairs)
            default:
                throw JinjaError(.syntax, "unexpected '\(token.text)'", line: token.line)
            }
        }
    }

    private mutating func parsePostfix(_ stream: inout TokenStream, _ base: Expr) throws -> Expr {
        let start = depth
        defer { depth = start }
        var node = base
        while true {
            try deeper(stream.line)
            if stream.skip(op: ".") {
                guard let token = stream.next(), token.kind == .name || token.kind == .integer else {
                    throw stream.error("expected an attribute name after '.'")
                }
                node = token.kind == .integer
                    ? .item(node, .literal(.int(Int(token.text) ?? 0))) : .attribute(node, token.text)
            } else if stream.skip(op: "[") {
                node = try parseSubscript(&stream, node)
            } else if stream.peekOp("(") {
                node = .call(node, try parseCallArguments(&stream))
            } else {
                return node
            }
        }
    }

    private mutating func parseSubscript(_ stream: inout TokenStream, _ base: Expr) throws -> Expr {
        var parts: [Expr?] = [nil]
        var colons = 0
        while !stream.skip(op: "]") {
            if stream.skip(op: ":") {
                colons += 1
                parts.append(nil)
                guard colons <= 2 else { throw stream.error("too many ':' in a slice") }
            } else {
                guard parts[parts.count - 1] == nil else { throw stream.error("expected ']' or ':'") }
                parts[parts.count - 1] = try parseExpression(&stream)
            }
        }
        if colons == 0 {
            guard let key = parts[0] else { throw stream.error("empty subscript") }
            return .item(base, key)
        }
        while parts.count < 3 { parts.append(nil) }
        return .slice(base, start: parts[0], stop: parts[1], step: parts[2])
    }

    private mutating func parseCallArguments(_ stream: inout TokenStream) throws -> Call {
        try stream.expect(op: "(")
        var call = Call(positional: [], keyword: [])
        while !stream.skip(op: ")") {
            if !(call.positional.isEmpty && call.keyword.isEmpty) {
                try stream.expect(op: ",")
                if stream.skip(op: ")") { break }
            }
            if stream.peekOp("*") || stream.peekOp("**") {
                throw JinjaError(.unsupported, "*args or **kwargs in a call", line: stream.line)
            }
            if let name = stream.peek, name.kind == .name, stream.peekOp("=", offset: 1) {
                stream.advance()
                stream.advance()
                call.keyword.append((name.text, try parseExpression(&stream)))
            } else {
                call.positional.append(try parseExpression(&stream))
            }
        }
        return call
    }

    private mutating func parseFilterCall(_ stream: inout TokenStream) throws -> FilterCall {
        let line = stream.peek?.line ?? stream.line
        var name = try stream.expectName()
        while stream.peekOp("."), let next = stream.peek(offset: 1), next.kind == .name {
            stream.advance()
            stream.advance()
            name += "." + next.text
        }
        if !Builtins.filterNames.contains(name) && softDepth == 0 {
            unknownNames.append(JinjaError(.assertion, "no filter named '\(name)'", line: line))
        }
        let arguments = stream.peekOp("(") ? try parseCallArguments(&stream) : Call(positional: [], keyword: [])
        return FilterCall(name: name, arguments: arguments, line: line)
    }

    private mutating func parseFiltersAndTests(_ stream: inout TokenStream, _ base: Expr) throws -> Expr {
        let start = depth
        defer { depth = start }
        var node = base
        while true {
            try deeper(stream.line)
            if stream.skip(op: "|") {
                node = .filter(node, try parseFilterCall(&stream))
            } else if stream.skip(name: "is") {
                let negated = stream.skip(name: "not")
                let line = stream.peek?.line ?? stream.line
                let name: String
                if let token = stream.peek,
                        token.kind == .name || ["==", "!=", "<", ">", "<=", ">="].contains(token.text) {
                    stream.advance()
                    name = token.text
                } else {
                    throw stream.error("expected a test name after 'is'")
                }
                if !Builtins.testNames.contains(name) && softDepth == 0 {
                    unknownNames.append(JinjaError(.assertion, "no test named '\(name)'", line: line))
                }
                var arguments: [Expr] = []
                if stream.peekOp("(") {
                    arguments = try parseCallArguments(&stream).positional
                } else if let next = stream.peek, startsArgument(next) {
                    arguments = [try parsePostfix(&stream, try parsePrimary(&stream))]
                }
                node = .test(node, name: name, negated: negated, arguments: arguments)
            } else if stream.peekOp("(") {
                node = .call(node, try parseCallArguments(&stream))
            } else {
                return node
            }
        }
    }

    /// Jinja2 takes one bare argument after a test name when it starts like a value.
    private func startsArgument(_ token: Token) -> Bool {
        switch token.kind {
        case .string, .integer, .float: return true
        case .name: return !["else", "or", "and", "is", "if", "in", "not"].contains(token.text)
        case .op: return token.text == "[" || token.text == "{"
        }
    }
}

/// The tokens of one tag, consumed left to right.
struct TokenStream {
    private let tokens: [Token]
    private var position = 0
    let line: Int

    init(_ tokens: [Token], line: Int) {
        self.tokens = tokens
        self.line = line
    }

    var atEnd: Bool { position >= tokens.count }
    var peek: Token? { peek(offset: 0) }
    func peek(offset: Int) -> Token? { position + offset < tokens.count ? tokens[position + offset] : nil }
    mutating func advance() { position += 1 }
    mutating func next() -> Token? { defer { position += 1 }; return peek }

    func peekOp(_ op: String, offset: Int = 0) -> Bool {
        guard let token = peek(offset: offset) else { return false }
        return token.kind == .op && token.text == op
    }

    func peekName(_ name: String, offset: Int = 0) -> Bool {
        guard let token = peek(offset: offset) else { return false }
        return token.kind == .name && token.text == name
    }

    mutating func skip(op: String) -> Bool {
        guard peekOp(op) else { return false }
        position += 1
        return true
    }

    mutating func skip(name: String) -> Bool {
        guard peekName(name) else { return false }
        position += 1
        return true
    }

    mutating func expect(op: String) throws {
        guard skip(op: op) else { throw error("expected '\(op)'") }
    }

    mutating func expect(name: String) throws {
        guard skip(name: name) else { throw error("expected '\(name)'") }
    }

    mutating func expectName() throws -> String {
        guard let token = peek, token.kind == .name else { throw error("expected a name") }
        position += 1
        return token.text
    }

    func expectEnd() throws {
        if let token = peek { throw JinjaError(.syntax, "unexpected '\(token.text)'", line: token.line) }
    }

    func error(_ message: String) -> JinjaError {
        let found = peek.map { ", found '\($0.text)'" } ?? ""
        return JinjaError(.syntax, message + found, line: peek?.line ?? line)
    }
}
