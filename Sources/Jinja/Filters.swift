import Foundation

/// Jinja2's filters, with `tojson` as Hugging Face overrides it (no HTML escaping, key order kept).
extension Builtins {
    /// Every filter Jinja2 defines; the ones not implemented below fail by name when used.
    static let filterNames: Set<String> = [
        "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape",
        "filesizeformat", "first", "float", "forceescape", "format", "groupby", "indent", "int", "items", "join",
        "last", "length", "list", "lower", "map", "max", "min", "pprint", "random", "reject", "rejectattr",
        "replace", "reverse", "round", "safe", "select", "selectattr", "slice", "sort", "string", "striptags",
        "sum", "title", "tojson", "trim", "truncate", "unique", "upper", "urlencode", "urlize", "wordcount",
        "wordwrap", "xmlattr",
    ]

    static func filter(_ call: FilterCall, _ value: Value, _ r: Renderer) throws -> Value {
        let saved = r.line
        r.line = call.line
        defer { r.line = saved }
        guard filterNames.contains(call.name) else { throw r.fail(.runtime, "no filter named '\(call.name)'") }
        return try apply(call.name, value, try r.arguments(call.arguments), r)
    }

    static func apply(_ name: String, _ value: Value, _ a: Arguments, _ r: Renderer) throws -> Value {
        func string(_ v: Value) -> Text { v.text }
        func flag(_ position: Int, _ label: String) -> Bool { a.value(position, label)?.isTruthy ?? false }
        switch name {
        case "default", "d":
            let useDefault = value.isUndefined || (flag(1, "boolean") && !value.isTruthy)
            return useDefault ? (a.value(0, "default_value") ?? .string("")) : value
        case "length", "count":
            return .int(try length(value, r))
        case "string":
            return .string(value.text)
        case "safe":
            return value
        case "trim":
            let characters = a.value(0, "chars").flatMap { v -> String? in
                if case .string(let t) = v { return t.string }; return nil
            }
            return .string(string(value).stripped(leading: true, trailing: true, characters: characters))
        case "upper", "lower", "capitalize":  // the str methods of the same names, on str(value)
            return try stringMethod(string(value), name, Arguments(positional: [], keyword: []), r)
        case "title": return .string(string(value).transformed(jinjaTitle(string(value).string)))
        case "replace":
            guard let old = a.value(0, "old"), let new = a.value(1, "new") else {
                throw r.fail(.type, "replace needs old and new")
            }
            let count = a.value(2, "count")?.integer ?? -1
            return .string(try replaced(string(value), old.text, new.text, limit: count, r))
        case "join":
            let separator = a.value(0, "d")?.text ?? Text("")
            var items = try r.iterate(value)
            if let attribute = a.value(1, "attribute") { items = try items.map { try lookupPath($0, attribute, r) } }
            return .string(try joined(items.map(\.text), separator: separator, r))
        case "list":
            return .list(try r.iterate(value))
        case "first":
            return try r.iterate(value).first ?? .undefined(hint: "no first item, sequence was empty")
        case "last":
            return try r.iterate(value).last ?? .undefined(hint: "no last item, sequence was empty")
        case "reverse":
            if case .string(let s) = value {
                return .string(s.transformed(String(s.string.unicodeScalars.reversed().map(Character.init))))
            }
            return .list(try r.iterate(value).reversed())
        case "items":
            if value.isUndefined { return .list([]) }
            guard case .dict(let dict) = value else { throw r.fail(.type, "Can only get item pairs from a mapping.") }
            return .list(dict.pairs.map { .tuple([$0.key, $0.value]) })
        case "dictsort":
            guard case .dict(let dict) = try r.defined(value) else { throw r.fail(.type, "dictsort needs a mapping") }
            let byValue = (a.value(1, "by")?.text.string ?? "key") == "value"
            let caseSensitive = flag(0, "case_sensitive")
            var pairs: [Value] = dict.pairs.map { .tuple([$0.key, $0.value]) }
            pairs = try sorted(pairs, key: { item in
                guard case .tuple(let kv) = item else { return item }
                return foldCase(byValue ? kv[1] : kv[0], caseSensitive)
            }, reverse: flag(2, "reverse"), r)
            return .list(pairs)
        case "sort":
            let caseSensitive = flag(1, "case_sensitive")
            let attribute = a.value(2, "attribute")
            let items = try r.iterate(value)
            return .list(try sorted(items, key: { item in
                try sortKey(item, attribute, caseSensitive, r)
            }, reverse: flag(0, "reverse"), r))
        case "unique":
            let caseSensitive = flag(0, "case_sensitive")
            let attribute = a.value(1, "attribute")
            var seen: [Value] = []
            var result: [Value] = []
            for item in try r.iterate(value) {
                let key = try sortKey(item, attribute, caseSensitive, r)
                if !seen.contains(where: { Value.equal($0, key) }) { seen.append(key); result.append(item) }
            }
            return .list(result)
        case "min", "max":
            let caseSensitive = flag(0, "case_sensitive")
            let attribute = a.value(1, "attribute")
            let items = try r.iterate(value)
            // Python's min and max keep the first of equal items.
            var best: (item: Value, key: Value)?
            for item in items {
                let key = try sortKey(item, attribute, caseSensitive, r)
                guard let current = best else { best = (item, key); continue }
                if name == "min" ? try Value.less(key, current.key) : try Value.less(current.key, key) {
                    best = (item, key)
                }
            }
            return best?.item ?? .undefined(hint: "No aggregated item, sequence was empty.")
        case "sum":
            var total = a.value(1, "start") ?? .int(0)
            for item in try r.iterate(value) {
                let term = try a.value(0, "attribute").map { try lookupPath(item, $0, r) } ?? item
                total = try Operators.binary("+", total, term, r)
            }
            return total
        case "abs":
            let v = try r.defined(value)
            if case .int(let i) = v {
                guard i != .min else { throw r.fail(.limit, "abs(\(i)) is beyond 64 bits") }
                return .int(abs(i))
            }
            if case .double(let d) = v { return .double(abs(d)) }
            if case .bool(let b) = v { return .int(b ? 1 : 0) }
            throw r.fail(.type, "bad operand type for abs(): '\(v.typeName)'")
        case "int":
            let fallback = a.value(0, "default") ?? .int(0)
            switch value {
            case .int, .bool: return .int(value.integer!)
            case .double(let d): return d.isFinite ? try integer(d, r) : fallback
            case .string(let s):
                let trimmed = s.string.trimmingCharacters(in: .whitespacesAndNewlines)
                    .replacingOccurrences(of: "_", with: "")
                if let i = Int(trimmed) { return .int(i) }
                if let d = Double(trimmed), d.isFinite { return try integer(d, r) }
                return fallback
            default: return fallback
            }
        case "float":
            let fallback = a.value(0, "default") ?? .double(0)
            if let n = value.number { return .double(n) }
            if case .string(let s) = value, let d = Double(s.string.trimmingCharacters(in: .whitespacesAndNewlines)) {
                return .double(d)
            }
            return fallback
        case "round":
            let v = try r.defined(value)
            guard let n = v.number else { throw r.fail(.type, "round needs a number") }
            let precision = a.value(0, "precision")?.integer ?? 0
            let method = a.value(1, "method")?.text.string ?? "common"
            guard ["common", "ceil", "floor"].contains(method) else {
                throw r.fail(.type, "method must be common, ceil or floor")
            }
            guard method == "common" else {
                let scale = pow(10, Double(precision))
                return .double((n * scale).rounded(method == "ceil" ? .up : .down) / scale)
            }
            // Python's round(): an int stays an int; a float rounds its exact binary value to the
            // nearest decimal, ties to even, as printf does.
            if case .int = v, precision >= 0 { return v }
            if case .bool = v, precision >= 0 { return .int(v.integer!) }
            guard precision >= 0, precision <= 300 else {
                throw r.fail(.unsupported, "round() with precision \(precision)")
            }
            return .double(Double(String(format: "%.\(precision)f", n)) ?? n)
        case "tojson":
            return .string(try tojson(value, a, r))
        case "indent":
            return .string(try indent(string(value), a, r))
        case "wordcount":
            // Jinja2 counts the matches of \w+: runs of letters, digits, marks and underscores.
            var words = 0, inWord = false
            for scalar in string(value).string.unicodeScalars {
                let p = scalar.properties
                let wordCharacter = scalar == "_" || p.isAlphabetic || p.numericType != nil
                    || [.nonspacingMark, .spacingMark, .enclosingMark].contains(p.generalCategory)
                if wordCharacter && !inWord { words += 1 }
                inWord = wordCharacter
            }
            return .int(words)
        case "format":
            return .string(try Operators.percentFormat(string(value),
                                                       a.keyword.isEmpty ? .tuple(a.positional) : .none, r))
        case "escape", "e", "forceescape":
            let s = string(value)
            var escaped = s.string
            for (from, to) in [("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("\"", "&#34;"), ("'", "&#39;")] {
                escaped = escaped.replacingOccurrences(of: from, with: to)
            }
            return .string(s.transformed(escaped))
        case "attr":
            // Only the attribute (a method, a namespace's), never an item of that name (Jinja2's attr).
            guard case .string(let attribute)? = a.value(0, "name") else { throw r.fail(.type, "attr needs a name") }
            let object = try r.defined(value)
            if case .dict = object {
                return try method(object, attribute.string, r) ?? .undefined(hint: "no attribute '\(attribute.string)'")
            }
            return try self.attribute(object, attribute.string, r)
        case "map":
            return .list(try map(value, a, r))
        case "select", "reject", "selectattr", "rejectattr":
            return .list(try select(name, value, a, r))
        default:
            throw r.fail(.unsupported, "the filter '\(name)'")
        }
    }

    /// Python's `int(x)` of a float: toward zero; beyond 64 bits Scalpel stops rather than guess.
    static func integer(_ d: Double, _ r: Renderer) throws -> Value {
        guard let i = Int(exactly: d.rounded(.towardZero)) else {
            throw r.fail(.limit, "the integer \(d) is beyond 64 bits")
        }
        return .int(i)
    }

    static func length(_ value: Value, _ r: Renderer) throws -> Int {
        switch value {
        case .undefined: return 0
        case .string(let s): return s.count
        case .list(let l), .tuple(let l): return l.count
        case .dict(let d): return d.count
        default: throw r.fail(.type, "object of type '\(value.typeName)' has no len()")
        }
    }

    /// Jinja2's `title` filter: capitalises each word, words split at spaces, '-' and opening brackets.
    static func jinjaTitle(_ s: String) -> String {
        var out = ""
        var word = ""
        func flush() { out += capitalized(word); word = "" }
        for c in s {
            if c.isWhitespace || "-({[<".contains(c) { flush(); out.append(c) } else { word.append(c) }
        }
        flush()
        return out
    }

    /// What sort, unique, min and max compare: the item or its `attribute`, case folded unless asked.
    private static func sortKey(_ item: Value, _ attribute: Value?, _ caseSensitive: Bool,
                                _ r: Renderer) throws -> Value {
        foldCase(try attribute.map { try lookupPath(item, $0, r) } ?? item, caseSensitive)
    }

    /// Strings compare case-insensitively unless asked (Jinja2's `ignore_case`).
    private static func foldCase(_ value: Value, _ caseSensitive: Bool) -> Value {
        if !caseSensitive, case .string(let s) = value { return .string(s.string.lowercased()) }
        return value
    }

    /// A stable sort by `key`, as Python's `sorted`.
    private static func sorted(_ items: [Value], key: (Value) throws -> Value, reverse: Bool,
                               _ r: Renderer) throws -> [Value] {
        let keyed = try items.enumerated().map { ($0.offset, try key($0.element), $0.element) }
        var failure: Error?
        let ordered = keyed.sorted { x, y in
            do {
                if try Value.less(x.1, y.1) { return !reverse }
                if try Value.less(y.1, x.1) { return reverse }
            } catch {
                failure = failure ?? error
            }
            return x.0 < y.0
        }
        if var error = failure as? JinjaError { error.line = r.line; throw error }
        return ordered.map(\.2)
    }

    /// `attribute='a.b'` or an integer index, as Jinja2's `make_attrgetter` resolves it.
    static func lookupPath(_ item: Value, _ path: Value, _ r: Renderer) throws -> Value {
        if let index = path.integer { return try self.item(item, .int(index), r) }
        var current = item
        for part in path.text.string.split(separator: ".", omittingEmptySubsequences: false) {
            let key: Value = Int(part).map { .int($0) } ?? .string(String(part))
            current = try self.item(try r.defined(current), key, r)
        }
        return current
    }

    private static func map(_ value: Value, _ a: Arguments, _ r: Renderer) throws -> [Value] {
        guard value.isTruthy else { return [] }  // Jinja2 maps a false value (none, empty) to nothing
        let items = try r.iterate(value)
        if let attribute = a.keyword.first(where: { $0.0 == "attribute" })?.1 {
            let fallback = a.keyword.first { $0.0 == "default" }?.1
            return try items.map { item in
                let found = try lookupPath(item, attribute, r)
                return found.isUndefined ? (fallback ?? found) : found
            }
        }
        guard case .string(let filterName)? = a.positional.first else {
            throw r.fail(.type, "map needs a filter name or attribute=")
        }
        guard filterNames.contains(filterName.string) else {
            throw r.fail(.runtime, "no filter named '\(filterName.string)'")
        }
        let rest = Arguments(positional: Array(a.positional.dropFirst()), keyword: a.keyword)
        return try items.map { try apply(filterName.string, $0, rest, r) }
    }

    private static func select(_ name: String, _ value: Value, _ a: Arguments, _ r: Renderer) throws -> [Value] {
        let byAttribute = name.hasSuffix("attr")
        let keep = name.hasPrefix("select")
        var positional = a.positional
        var attribute: Value?
        if byAttribute {
            guard !positional.isEmpty else { throw r.fail(.type, "\(name) needs an attribute name") }
            attribute = positional.removeFirst()
        }
        var testName: String?
        if !positional.isEmpty {
            guard case .string(let t) = positional.removeFirst() else {
                throw r.fail(.type, "\(name) needs a test name")
            }
            testName = t.string
            guard testNames.contains(t.string) else { throw r.fail(.runtime, "no test named '\(t.string)'") }
        }
        guard value.isTruthy else { return [] }  // as Jinja2: a false value selects nothing
        return try r.iterate(value).filter { item in
            let subject = try attribute.map { try lookupPath(item, $0, r) } ?? item
            let passes = try testName.map { try test($0, subject, positional, r) } ?? subject.isTruthy
            return passes == keep
        }
    }

    /// `json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)`.
    private static func tojson(_ value: Value, _ a: Arguments, _ r: Renderer) throws -> Text {
        var indent: String?
        switch a.value(1, "indent") {
        case .int(let n)?:
            try r.charge(n)
            indent = String(repeating: " ", count: max(0, n))
        case .string(let s)?: indent = s.string
        case .none?, nil: indent = nil
        case let other?: throw r.fail(.type, "tojson's indent must be an int or a string, not \(other.typeName)")
        }
        var options = JSON.Options(indent: indent, itemSeparator: indent == nil ? ", " : ",", keySeparator: ": ",
                                   sortKeys: a.value(3, "sort_keys")?.isTruthy ?? false)
        switch a.value(2, "separators") {
        case nil, .none?, .undefined?: break
        case .tuple(let pair)? where pair.count == 2, .list(let pair)? where pair.count == 2:
            options.itemSeparator = pair[0].text.string
            options.keySeparator = pair[1].text.string
        default: throw r.fail(.type, "tojson's separators must be a pair of strings")
        }
        return try JSON.dump(value, options, r, ensureASCII: a.value(0, "ensure_ascii")?.isTruthy ?? false)
    }

    /// Jinja2's `indent(width=4, first=False, blank=False)`.
    private static func indent(_ s: Text, _ a: Arguments, _ r: Renderer) throws -> Text {
        let width = a.value(0, "width") ?? .int(4)
        let indentation: Text
        switch width {
        case .string(let t): indentation = t
        default:
            guard let n = width.integer else { throw r.fail(.type, "indent's width must be an int or a string") }
            try r.charge(n)
            indentation = Text(String(repeating: " ", count: max(0, n)))
        }
        let first = a.value(1, "first")?.isTruthy ?? false
        let blank = a.value(2, "blank")?.isTruthy ?? false
        let newline = Text("\n")
        // Jinja2 appends a newline before splitting, so a trailing newline is not an indented empty line.
        var lines = splitLines(s + newline, keepEnds: false)
        try r.charge(s.count + (lines.count + 1) * indentation.count)
        var result: Text
        if blank {
            result = Text.joined(lines, separator: newline + indentation)
        } else {
            result = lines.isEmpty ? Text("") : lines.removeFirst()
            if !lines.isEmpty {
                result = result + newline +
                    Text.joined(lines.map { $0.isEmpty ? $0 : indentation + $0 }, separator: newline)
            }
        }
        return first ? indentation + result : result
    }
}
