/// The regular expressions BPE pre-tokenizers split text with (llama.cpp's `regex_exprs`, the `Split`
/// patterns of a tokenizer.json), over Unicode scalars, with the leftmost-first backtracking semantics
/// of Oniguruma, PCRE and std::regex: at each position the first alternative that leads to a match wins,
/// and quantifiers are greedy.
///
/// Supported: literals and escapes (`\r \n \t \\ \. …`), `.`, classes `[…]` / `[^…]` with ranges, `\s \S
/// \d \D \w \W`, `\p{X}` / `\P{X}` for the general categories (L, Lu, Ll, Lt, Lm, Lo, M, Mn, Mc, Me, N, Nd,
/// Nl, No, P, Pc, Pd, Ps, Pe, Pi, Pf, Po, S, Sm, Sc, Sk, So, Z, Zs, Zl, Zp, C, Cc, Cf, Co, Cn), groups `(…)`
/// `(?:…)`, case-insensitive groups `(?i:…)`, negative and positive lookahead `(?!…)` `(?=…)`, `|`,
/// `? * + {n} {n,} {n,m}` (and their lazy `?` forms), `^` and `$`. Anything else is an error naming it:
/// a pattern is never approximated.
public struct SplitRegex: Sendable {
    public let pattern: String
    let root: Node

    indirect enum Node: Sendable {
        case set(ScalarSet)
        case sequence([Node])
        case alternation([Node])
        case repetition(Node, min: Int, max: Int?, greedy: Bool)
        case lookahead(Node, negated: Bool)
        case start, end
    }

    public struct Unsupported: Error, CustomStringConvertible, Equatable {
        public let pattern: String, detail: String
        public var description: String {
            "the pre-tokenizer pattern \(pattern.debugDescription) uses \(detail), which Scalpel does not implement"
        }
    }

    public init(_ pattern: String) throws(Unsupported) {
        self.pattern = pattern
        var parser = Parser(scalars: Array(pattern.unicodeScalars), pattern: pattern)
        root = try parser.alternation(caseInsensitive: false)
        guard parser.position == parser.scalars.count else {
            throw Unsupported(pattern: pattern, detail: "an unbalanced ')'")
        }
    }

    /// The end of the first match that starts at `start` within `text[range]`, if any.
    func match(_ text: [Unicode.Scalar], at start: Int, in range: Range<Int>) -> Int? {
        var found: Int?
        _ = Self.match(root, text, start, range) { end in found = end; return true }
        return found
    }

    /// Splits `text[range]` as tokenizers' "isolated" behaviour does: every match is a piece, and so is
    /// the text between matches. Empty matches are skipped.
    public func split(_ text: [Unicode.Scalar], _ range: Range<Int>, into pieces: inout [Range<Int>]) {
        var position = range.lowerBound, gapStart = range.lowerBound
        while position < range.upperBound {
            if let end = match(text, at: position, in: range), end > position {
                if gapStart < position { pieces.append(gapStart..<position) }
                pieces.append(position..<end)
                position = end
                gapStart = end
            } else {
                position += 1
            }
        }
        if gapStart < range.upperBound { pieces.append(gapStart..<range.upperBound) }
    }

    /// Continuation-passing backtracking: `next` receives each end position a node can reach, in
    /// preference order, and returns true to accept it.
    static func match(_ node: Node, _ text: [Unicode.Scalar], _ i: Int, _ range: Range<Int>,
                      _ next: (Int) -> Bool) -> Bool {
        switch node {
        case .set(let set):
            guard i < range.upperBound, set.contains(text[i]) else { return false }
            return next(i + 1)
        case .sequence(let nodes):
            return sequence(nodes[...], text, i, range, next)
        case .alternation(let options):
            for option in options where match(option, text, i, range, next) { return true }
            return false
        case .repetition(.set(let set), let min, let max, let greedy):
            // One scalar at a time: count the run, then try the ends in preference order, without
            // recursing once per scalar (a 100k-letter run must not exhaust the stack).
            var run = 0
            let limit = max ?? Int.max
            while run < limit, i + run < range.upperBound, set.contains(text[i + run]) { run += 1 }
            guard run >= min else { return false }
            if greedy {
                for count in stride(from: run, through: min, by: -1) where next(i + count) { return true }
            } else {
                for count in min...run where next(i + count) { return true }
            }
            return false
        case .repetition(let inner, let min, let max, let greedy):
            return repeated(inner, min: min, max: max, greedy: greedy, count: 0, text, i, range, next)
        case .lookahead(let inner, let negated):
            let found = match(inner, text, i, range) { _ in true }
            return found != negated && next(i)
        case .start: return i == range.lowerBound && next(i)
        case .end: return i == range.upperBound && next(i)
        }
    }

    static func sequence(_ nodes: ArraySlice<Node>, _ text: [Unicode.Scalar], _ i: Int, _ range: Range<Int>,
                         _ next: (Int) -> Bool) -> Bool {
        guard let first = nodes.first else { return next(i) }
        return match(first, text, i, range) { sequence(nodes.dropFirst(), text, $0, range, next) }
    }

    static func repeated(_ inner: Node, min: Int, max: Int?, greedy: Bool, count: Int, _ text: [Unicode.Scalar],
                         _ i: Int, _ range: Range<Int>, _ next: (Int) -> Bool) -> Bool {
        let canStop = count >= min, canGo = max.map { count < $0 } ?? true
        func more() -> Bool {
            canGo && match(inner, text, i, range) { end in
                end > i && repeated(inner, min: min, max: max, greedy: greedy, count: count + 1, text, end, range, next)
            }
        }
        if greedy { return more() || (canStop && next(i)) }
        return (canStop && next(i)) || more()
    }
}

/// A predicate on one scalar: listed ranges and categories, possibly negated.
struct ScalarSet: Sendable {
    enum Item: Sendable {
        case range(UInt32, UInt32)
        case categories(UInt32, negated: Bool)      // a bit per general category, in `codes`' order
        case whitespace(negated: Bool)
        case any
    }
    var items: [Item]
    var negated = false

    func contains(_ s: Unicode.Scalar) -> Bool {
        var hit = false
        for item in items where !hit {
            switch item {
            case .range(let a, let b): hit = (a...b).contains(s.value)
            case .categories(let mask, let negated): hit = (mask & Self.bit(s) != 0) != negated
            case .whitespace(let negated): hit = s.properties.isWhitespace != negated
            case .any: hit = s != "\n"
            }
        }
        return hit != negated
    }

    /// The general categories, by their two-letter codes; a category's bit is 1 << its index here.
    static let codes = ["Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe", "Pi",
                        "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn"]

    /// The scalar's category bit: a switch, not a string, since it runs for every scalar tokenized.
    @inline(__always)
    static func bit(_ s: Unicode.Scalar) -> UInt32 {
        let index: UInt32 = switch s.properties.generalCategory {
        case .uppercaseLetter: 0; case .lowercaseLetter: 1; case .titlecaseLetter: 2; case .modifierLetter: 3
        case .otherLetter: 4; case .nonspacingMark: 5; case .spacingMark: 6; case .enclosingMark: 7
        case .decimalNumber: 8; case .letterNumber: 9; case .otherNumber: 10; case .connectorPunctuation: 11
        case .dashPunctuation: 12; case .openPunctuation: 13; case .closePunctuation: 14; case .initialPunctuation: 15
        case .finalPunctuation: 16; case .otherPunctuation: 17; case .mathSymbol: 18; case .currencySymbol: 19
        case .modifierSymbol: 20; case .otherSymbol: 21; case .spaceSeparator: 22; case .lineSeparator: 23
        case .paragraphSeparator: 24; case .control: 25; case .format: 26; case .surrogate: 27
        case .privateUse: 28; case .unassigned: 29
        @unknown default: 29
        }
        return 1 << index
    }

    static func mask(_ names: Set<String>) -> UInt32 {
        names.reduce(0) { $0 | (1 << UInt32(codes.firstIndex(of: $1)!)) }
    }

    static let groups: [String: Set<String>] = [
        "L": ["Lu", "Ll", "Lt", "Lm", "Lo"], "M": ["Mn", "Mc", "Me"], "N": ["Nd", "Nl", "No"],
        "P": ["Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po"], "S": ["Sm", "Sc", "Sk", "So"], "Z": ["Zs", "Zl", "Zp"],
        "C": ["Cc", "Cf", "Cs", "Co", "Cn"],
    ]

    static func category(_ name: String) -> Set<String>? {
        if let group = groups[name] { return group }
        return groups.values.contains { $0.contains(name) } ? [name] : nil
    }
}

extension SplitRegex {
    struct Parser {
        let scalars: [Unicode.Scalar]
        let pattern: String
        var position = 0

        func fail(_ detail: String) -> Unsupported { Unsupported(pattern: pattern, detail: detail) }
        var peek: Unicode.Scalar? { position < scalars.count ? scalars[position] : nil }

        mutating func alternation(caseInsensitive: Bool) throws(Unsupported) -> Node {
            var options = [try sequence(caseInsensitive: caseInsensitive)]
            while peek == "|" {
                position += 1
                options.append(try sequence(caseInsensitive: caseInsensitive))
            }
            return options.count == 1 ? options[0] : .alternation(options)
        }

        mutating func sequence(caseInsensitive: Bool) throws(Unsupported) -> Node {
            var nodes: [Node] = []
            while let c = peek, c != "|", c != ")" {
                var atom = try self.atom(caseInsensitive: caseInsensitive)
                atom = try quantified(atom)
                nodes.append(atom)
            }
            return .sequence(nodes)
        }

        mutating func quantified(_ atom: Node) throws(Unsupported) -> Node {
            var bounds: (Int, Int?)?
            switch peek {
            case "?": bounds = (0, 1); position += 1
            case "*": bounds = (0, nil); position += 1
            case "+": bounds = (1, nil); position += 1
            case "{":
                position += 1
                let low = number()
                var high: Int? = low
                if peek == "," { position += 1; high = number() }
                guard let low, peek == "}" else { throw fail("a malformed {n,m} quantifier") }
                position += 1
                bounds = (low, high)
            default: return atom
            }
            // Nested quantifiers can backtrack exponentially; no tokenizer's pattern has them.
            if Self.repeats(atom) { throw fail("a repeated group that itself repeats (nested quantifiers)") }
            var greedy = true
            if peek == "?" { greedy = false; position += 1 }
            if peek == "+" { throw fail("a possessive quantifier") }
            return .repetition(atom, min: bounds!.0, max: bounds!.1, greedy: greedy)
        }

        static func repeats(_ node: Node) -> Bool {
            switch node {
            case .repetition: true
            case .sequence(let nodes), .alternation(let nodes): nodes.contains(where: repeats)
            case .lookahead(let inner, _): repeats(inner)
            default: false
            }
        }

        mutating func number() -> Int? {
            var digits = ""
            while let c = peek, ("0"..."9").contains(c) { digits.unicodeScalars.append(c); position += 1 }
            return Int(digits)
        }

        mutating func atom(caseInsensitive: Bool) throws(Unsupported) -> Node {
            let c = scalars[position]
            position += 1
            switch c {
            case "(":
                var insensitive = caseInsensitive
                var lookahead: Bool?
                if peek == "?" {
                    position += 1
                    switch peek {
                    case ":": position += 1
                    case "!": position += 1; lookahead = true
                    case "=": position += 1; lookahead = false
                    case "i" where position + 1 < scalars.count && scalars[position + 1] == ":":
                        position += 2; insensitive = true
                    default: throw fail("the group '(?\(peek.map { String($0) } ?? "")'")
                    }
                }
                let inner = try alternation(caseInsensitive: insensitive)
                guard peek == ")" else { throw fail("an unclosed group") }
                position += 1
                if let negated = lookahead { return .lookahead(inner, negated: negated) }
                return inner
            case "[": return .set(try bracket(caseInsensitive: caseInsensitive))
            case ".": return .set(ScalarSet(items: [.any]))
            case "^": return .start
            case "$": return .end
            case "\\": return .set(try escape(inClass: false))
            case "*", "+", "?", "{": throw fail("a quantifier with nothing to repeat")
            default: return .set(literal(c, caseInsensitive: caseInsensitive))
            }
        }

        func literal(_ c: Unicode.Scalar, caseInsensitive: Bool) -> ScalarSet {
            guard caseInsensitive, c.isASCII, c.properties.isAlphabetic else {
                return ScalarSet(items: [.range(c.value, c.value)])
            }
            let lower = c.value | 0x20, upper = c.value & ~0x20
            // Rust's regex folds case by Unicode's simple folding: s also matches ſ, k also K (Kelvin).
            let folded: [UInt32] = lower == 0x73 ? [0x17F] : lower == 0x6B ? [0x212A] : []
            return ScalarSet(items: [.range(lower, lower), .range(upper, upper)] + folded.map { .range($0, $0) })
        }

        mutating func bracket(caseInsensitive: Bool) throws(Unsupported) -> ScalarSet {
            var set = ScalarSet(items: [])
            if peek == "^" { set.negated = true; position += 1 }
            var first = true
            while let c = peek, c != "]" || first {
                first = false
                position += 1
                var low: UInt32
                if c == "\\" {
                    let escaped = try escape(inClass: true)
                    guard case .range(let a, let b) = escaped.items.first, escaped.items.count == 1, a == b,
                            !escaped.negated else {
                        set.items.append(contentsOf: escaped.negated ? [Self.negate(escaped)] : escaped.items)
                        continue
                    }
                    low = a
                } else if c == "[" {
                    throw fail("a nested class or a POSIX class")
                } else {
                    low = c.value
                }
                if peek == "-", position + 1 < scalars.count, scalars[position + 1] != "]" {
                    position += 1
                    var high = scalars[position].value
                    position += 1
                    if high == 0x5C {   // an escaped range end
                        let escaped = try escape(inClass: true)
                        guard case .range(let a, _) = escaped.items.first else {
                            throw fail("a class range ending in a class")
                        }
                        high = a
                    }
                    guard low <= high else { throw fail("a backwards range") }
                    set.items.append(.range(low, high))
                } else {
                    let one = Unicode.Scalar(low)!
                    set.items.append(contentsOf: literal(one, caseInsensitive: caseInsensitive).items)
                }
            }
            guard peek == "]" else { throw fail("an unclosed class") }
            position += 1
            return set
        }

        static func negate(_ set: ScalarSet) -> ScalarSet.Item {
            // Only the escapes below produce negated sets, each a single category or whitespace item.
            switch set.items.first {
            case .categories(let mask, let negated)?: return .categories(mask, negated: !negated)
            case .whitespace(let negated)?: return .whitespace(negated: !negated)
            default: return .any
            }
        }

        mutating func escape(inClass: Bool) throws(Unsupported) -> ScalarSet {
            guard let c = peek else { throw fail("a trailing backslash") }
            position += 1
            let single = { (v: UInt32) in ScalarSet(items: [.range(v, v)]) }
            switch c {
            case "r": return single(0x0D)
            case "n": return single(0x0A)
            case "t": return single(0x09)
            case "f": return single(0x0C)
            case "v": return single(0x0B)
            case "s": return ScalarSet(items: [.whitespace(negated: false)])
            case "S": return ScalarSet(items: [.whitespace(negated: true)])
            case "d": return ScalarSet(items: [.categories(ScalarSet.mask(["Nd"]), negated: false)])
            case "D": return ScalarSet(items: [.categories(ScalarSet.mask(["Nd"]), negated: true)])
            case "w": return ScalarSet(items: [.categories(
                ScalarSet.mask(ScalarSet.groups["L"]!.union(["Nd", "Pc", "Mn", "Mc"])), negated: false)])
            case "W": return ScalarSet(items: [.categories(
                ScalarSet.mask(ScalarSet.groups["L"]!.union(["Nd", "Pc", "Mn", "Mc"])), negated: true)])
            case "p", "P":
                guard peek == "{", let close = scalars[position...].firstIndex(of: "}") else {
                    throw fail("\\\(c) without {name}")
                }
                let name = String(String.UnicodeScalarView(scalars[(position + 1)..<close]))
                position = close + 1
                guard let codes = ScalarSet.category(name) else { throw fail("the Unicode property \\\(c){\(name)}") }
                return ScalarSet(items: [.categories(ScalarSet.mask(codes), negated: c == "P")])
            case "x", "u":
                throw fail("the escape \\\(c)")
            default:
                guard !c.properties.isAlphabetic && !("0"..."9").contains(c) else { throw fail("the escape \\\(c)") }
                return single(c.value)
            }
        }
    }
}
