/// Splits a template into text, `{{ … }}` and `{% … %}` chunks, and tags into tokens.
///
/// Whitespace follows the environment Hugging Face renders chat templates with
/// (`trim_blocks=True, lstrip_blocks=True`, Jinja2's defaults otherwise):
/// - `{%-`, `{{-`, `{#-` strip all whitespace before the tag; `-%}`, `-}}`, `-#}` all after it;
/// - trim_blocks: the first newline after `%}` or `#}` is dropped;
/// - lstrip_blocks: spaces and tabs from the start of a line up to `{%` or `{#` are dropped
///   (`{%+` keeps them);
/// - newlines are normalised to "\n" and one final newline of the template is dropped.
struct Token: Equatable {
    enum Kind: Equatable { case name, string, integer, float, op }
    var kind: Kind
    var text: String
    var line: Int
}

enum Chunk {
    case text(String, line: Int)
    case output([Token], line: Int)
    case statement([Token], line: Int)
}

struct Lexer {
    private let src: [Unicode.Scalar]
    private let newlines: [Int]
    private var pos = 0

    init(_ template: String) {
        var source = template.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        if source.hasSuffix("\n") { source.removeLast() }
        let scalars = Array(source.unicodeScalars)
        src = scalars
        newlines = scalars.indices.filter { scalars[$0] == "\n" }
    }

    /// The 1-based line of scalar offset `offset`.
    func line(at offset: Int) -> Int {
        var low = 0, high = newlines.count
        while low < high {
            let mid = (low + high) / 2
            if newlines[mid] < offset { low = mid + 1 } else { high = mid }
        }
        return low + 1
    }

    mutating func chunks() throws -> [Chunk] {
        var chunks: [Chunk] = []
        var lineStarting = true
        while pos < src.count {
            guard let tag = nextTagStart(from: pos) else {
                chunks.append(.text(string(pos..<src.count), line: line(at: pos)))
                break
            }
            let kind = src[tag + 1]
            var cursor = tag + 2
            var sign: Unicode.Scalar?
            if cursor < src.count, src[cursor] == "-" || src[cursor] == "+" { sign = src[cursor]; cursor += 1 }
            var text = Array(src[pos..<tag])
            if sign == "-" {
                while let last = text.last, last.isPythonWhitespace { text.removeLast() }
            } else if sign != "+" && kind != "{" {
                text = lstripBlock(text, lineStarting: lineStarting)
            }
            if !text.isEmpty { chunks.append(.text(String(String.UnicodeScalarView(text)), line: line(at: pos))) }
            let tagLine = line(at: tag)
            switch kind {
            case "#":
                cursor = try endOfComment(from: cursor, line: tagLine)
            case "%" where isRaw(at: cursor):
                let (body, end) = try rawBlock(from: cursor, line: tagLine)
                if !body.isEmpty { chunks.append(.text(body, line: tagLine)) }
                cursor = end
            default:
                let (tokens, end) = try tokens(from: cursor, block: kind == "%", line: tagLine)
                chunks.append(kind == "%" ? .statement(tokens, line: tagLine) : .output(tokens, line: tagLine))
                cursor = end
            }
            lineStarting = cursor > 0 && src[cursor - 1] == "\n"
            pos = cursor
        }
        return chunks
    }

    private func string(_ range: Range<Int>) -> String { String(String.UnicodeScalarView(src[range])) }

    private func nextTagStart(from start: Int) -> Int? {
        var i = start
        while i + 1 < src.count {
            if src[i] == "{", src[i + 1] == "{" || src[i + 1] == "%" || src[i + 1] == "#" { return i }
            i += 1
        }
        return nil
    }

    /// lstrip_blocks: drop the spaces between the start of the line and a block tag.
    private func lstripBlock(_ text: [Unicode.Scalar], lineStarting: Bool) -> [Unicode.Scalar] {
        let lineStart = (text.lastIndex(of: "\n") ?? -1) + 1
        guard lineStart > 0 || lineStarting, lineStart < text.count else { return text }
        guard text[lineStart...].allSatisfy({ $0.isPythonWhitespace }) else { return text }
        return Array(text[..<lineStart])
    }

    /// After a tag's end: `-` strips all following whitespace, no sign drops one newline.
    private func afterTagEnd(_ end: Int, sign: Unicode.Scalar?, trims: Bool) -> Int {
        var i = end
        if sign == "-" {
            while i < src.count && src[i].isPythonWhitespace { i += 1 }
        } else if sign == nil && trims && i < src.count && src[i] == "\n" {
            i += 1
        }
        return i
    }

    private func endOfComment(from start: Int, line: Int) throws -> Int {
        var i = start
        while i + 1 < src.count {
            if src[i] == "#" && src[i + 1] == "}" {
                let sign: Unicode.Scalar? = i > start && (src[i - 1] == "-" || src[i - 1] == "+") ? src[i - 1] : nil
                return afterTagEnd(i + 2, sign: sign, trims: true)
            }
            i += 1
        }
        throw JinjaError(.syntax, "missing end of comment tag", line: line)
    }

    private func skipSpaces(_ i: inout Int) { while i < src.count && src[i].isPythonWhitespace { i += 1 } }

    private func word(at i: Int, _ word: String) -> Bool {
        let w = Array(word.unicodeScalars)
        guard i + w.count <= src.count, Array(src[i..<(i + w.count)]) == w else { return false }
        let next = i + w.count
        return next == src.count ||
            !(src[next].properties.isAlphabetic || src[next] == "_" || src[next].properties.numericType != nil)
    }

    /// The end of a `%}` with its optional sign at `i`, or nil.
    private func blockEnd(at i: Int) -> (end: Int, sign: Unicode.Scalar?)? {
        if i + 2 < src.count, src[i] == "-" || src[i] == "+", src[i + 1] == "%", src[i + 2] == "}" {
            return (i + 3, src[i])
        }
        if i + 1 < src.count, src[i] == "%", src[i + 1] == "}" { return (i + 2, nil) }
        return nil
    }

    private func isRaw(at start: Int) -> Bool {
        var i = start
        skipSpaces(&i)
        guard word(at: i, "raw") else { return false }
        i += 3
        skipSpaces(&i)
        return blockEnd(at: i) != nil
    }

    /// `{% raw %}…{% endraw %}`: the body is text, untouched, but for Jinja2's rules at its ends: after
    /// `{% raw %}` only `-%}` strips (no trim_blocks there); before `{% endraw %}` `{%-` strips and
    /// lstrip_blocks applies; after it, the usual block end.
    private func rawBlock(from start: Int, line: Int) throws -> (String, Int) {
        var i = start
        skipSpaces(&i)
        i += 3
        skipSpaces(&i)
        let open = blockEnd(at: i)!
        let bodyStart = afterTagEnd(open.end, sign: open.sign, trims: false)
        var j = bodyStart
        while let tag = nextTagStart(from: j) {
            var k = tag + 2
            var sign: Unicode.Scalar?
            if k < src.count, src[k] == "-" || src[k] == "+" { sign = src[k]; k += 1 }
            skipSpaces(&k)
            if src[tag + 1] == "%", word(at: k, "endraw") {
                k += 6
                skipSpaces(&k)
                if let close = blockEnd(at: k) {
                    var body = Array(src[bodyStart..<tag])
                    if sign == "-" {
                        while let last = body.last, last.isPythonWhitespace { body.removeLast() }
                    } else if sign != "+" {
                        body = lstripBlock(body, lineStarting: bodyStart > 0 && src[bodyStart - 1] == "\n")
                    }
                    return (String(String.UnicodeScalarView(body)),
                            afterTagEnd(close.end, sign: close.sign, trims: true))
                }
            }
            j = tag + 2
        }
        throw JinjaError(.syntax, "missing {% endraw %} for {% raw %}", line: line)
    }

    private static let operators = ["//", "**", "==", "!=", ">=", "<=",
                                    "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}",
                                    ">", "<", "=", ".", ":", "|", ",", ";"]

    /// The tokens of a tag from `start` up to its end (`%}` or `}}`, outside brackets).
    private func tokens(from start: Int, block: Bool, line: Int) throws -> ([Token], Int) {
        var tokens: [Token] = []
        var depth = 0
        var i = start
        while true {
            skipSpaces(&i)
            guard i < src.count else {
                throw JinjaError(.syntax, "unexpected end of template, expected '\(block ? "%}" : "}}")'", line: line)
            }
            if depth == 0 {
                if block, let end = blockEnd(at: i) {
                    return (tokens, afterTagEnd(end.end, sign: end.sign, trims: true))
                }
                if !block {
                    if src[i] == "-", i + 2 < src.count, src[i + 1] == "}", src[i + 2] == "}" {
                        return (tokens, afterTagEnd(i + 3, sign: "-", trims: false))
                    }
                    if src[i] == "}", i + 1 < src.count, src[i + 1] == "}" { return (tokens, i + 2) }
                }
            }
            let tokenLine = self.line(at: i)
            let c = src[i]
            if c == "_" || c.properties.isAlphabetic {
                var j = i + 1
                while j < src.count, src[j] == "_" || src[j].properties.isAlphabetic || ("0"..."9").contains(src[j]) {
                    j += 1
                }
                tokens.append(Token(kind: .name, text: string(i..<j), line: tokenLine))
                i = j
            } else if ("0"..."9").contains(c) {
                let (token, end) = number(at: i, line: tokenLine)
                tokens.append(token)
                i = end
            } else if c == "'" || c == "\"" {
                let (value, end) = try stringLiteral(at: i, line: tokenLine)
                tokens.append(Token(kind: .string, text: value, line: tokenLine))
                i = end
            } else if let op = Lexer.operators.first(where: { matches($0, at: i) }) {
                if op == "(" || op == "[" || op == "{" { depth += 1 }
                if op == ")" || op == "]" || op == "}" {
                    depth -= 1
                    if depth < 0 { throw JinjaError(.syntax, "unexpected '\(op)'", line: tokenLine) }
                }
                tokens.append(Token(kind: .op, text: op, line: tokenLine))
                i += op.unicodeScalars.count
            } else {
                throw JinjaError(.syntax, "unexpected character '\(c)'", line: tokenLine)
            }
        }
    }

    private func matches(_ op: String, at i: Int) -> Bool {
        let scalars = Array(op.unicodeScalars)
        return i + scalars.count <= src.count && Array(src[i..<(i + scalars.count)]) == scalars
    }

    private func number(at start: Int, line: Int) -> (Token, Int) {
        func digits(_ i: inout Int) {
            while i < src.count, ("0"..."9").contains(src[i]) ||
                    (src[i] == "_" && i + 1 < src.count && ("0"..."9").contains(src[i + 1])) {
                i += 1
            }
        }
        var i = start
        digits(&i)
        var isFloat = false
        if i + 1 < src.count, src[i] == ".", ("0"..."9").contains(src[i + 1]) {
            isFloat = true
            i += 1
            digits(&i)
        }
        if i < src.count, src[i] == "e" || src[i] == "E" {
            var j = i + 1
            if j < src.count, src[j] == "+" || src[j] == "-" { j += 1 }
            if j < src.count, ("0"..."9").contains(src[j]) {
                isFloat = true
                i = j
                digits(&i)
            }
        }
        let text = string(start..<i).replacingOccurrences(of: "_", with: "")
        return (Token(kind: isFloat ? .float : .integer, text: text, line: line), i)
    }

    /// A quoted string, unescaped as Python's "unicode-escape" codec does (Jinja2's rule).
    private func stringLiteral(at start: Int, line: Int) throws -> (String, Int) {
        let quote = src[start]
        var out = String.UnicodeScalarView()
        var i = start + 1
        func hex(_ count: Int) throws -> Unicode.Scalar {
            guard i + count < src.count else { throw JinjaError(.syntax, "truncated \\x/\\u escape", line: line) }
            let digits = string((i + 1)..<(i + 1 + count))
            guard let value = UInt32(digits, radix: 16), let scalar = Unicode.Scalar(value) else {
                throw JinjaError(.syntax, "bad escape \\\(src[i])\(digits)", line: line)
            }
            i += count
            return scalar
        }
        while i < src.count {
            let c = src[i]
            if c == quote { return (String(out), i + 1) }
            if c == "\\", i + 1 < src.count {
                i += 1
                switch src[i] {
                case "\\": out.append("\\")
                case "'": out.append("'")
                case "\"": out.append("\"")
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                case "a": out.append("\u{07}")
                case "b": out.append("\u{08}")
                case "f": out.append("\u{0C}")
                case "v": out.append("\u{0B}")
                case "\n": break
                case "x": out.append(try hex(2))
                case "u": out.append(try hex(4))
                case "U": out.append(try hex(8))
                case "0"..."7":
                    var value: UInt32 = 0
                    var n = 0
                    while n < 3, i < src.count, ("0"..."7").contains(src[i]) {
                        value = value * 8 + (src[i].value - 48)
                        i += 1
                        n += 1
                    }
                    i -= 1
                    out.append(Unicode.Scalar(value)!)
                case "N": throw JinjaError(.unsupported, "a \\N{…} escape in a string literal", line: line)
                default:
                    out.append("\\")
                    out.append(src[i])
                }
                i += 1
                continue
            }
            out.append(c)
            i += 1
        }
        throw JinjaError(.syntax, "unterminated string literal", line: line)
    }
}
