import Foundation

/// The globals, attribute rules, filters and tests of Jinja2's sandbox as Hugging Face configures it.
///
/// A name Jinja2 knows but Scalpel does not implement is an error that names it, never another rule.
enum Builtins {
    // MARK: globals

    /// range, namespace, dict, raise_exception, strftime_now (Hugging Face adds the last four).
    static func globals(_ r: Renderer) -> [String: Value] {
        func function(_ name: String, _ body: @escaping (Arguments) throws -> Value) -> Value {
            .function(Function(name: name, call: body))
        }
        return [
            "range": function("range") { [unowned r] a in
                let n = try a.positional.map { v -> Int in
                    guard let i = v.integer else {
                        throw r.fail(.type, "'\(v.typeName)' object cannot be interpreted as an integer")
                    }
                    return i
                }
                let (start, stop, step) = n.count == 1 ? (0, n[0], 1) : n.count == 2 ? (n[0], n[1], 1)
                    : n.count == 3 ? (n[0], n[1], n[2]) : (0, 0, 0)
                guard step != 0 else {
                    throw r.fail(.value, n.count == 3 ? "range() arg 3 must not be zero"
                                                      : "range expected 1 to 3 arguments")
                }
                // Jinja2's sandbox refuses ranges longer than 100,000 (MAX_RANGE); count before building.
                let span = Double(stop) - Double(start)
                guard (span / Double(step)).rounded(.up) <= 100_000 else {
                    throw r.fail(.limit, "range too big: the sandbox allows at most 100000 items")
                }
                return .list(stride(from: start, to: stop, by: step).map { .int($0) })
            },
            "namespace": function("namespace") { [unowned r] a in
                var attributes = Dict()
                for value in a.positional {
                    guard case .dict(let dict) = value else {
                        throw r.fail(.type, "namespace() takes a dict or keyword arguments")
                    }
                    for pair in dict.pairs { attributes[pair.key] = pair.value }
                }
                for (key, value) in a.keyword { attributes[key] = value }
                if let bad = attributes.keys.first(where: { $0.text.string.hasPrefix("_") }) {
                    throw r.fail(.security, "a namespace cannot store '\(bad.text)'")
                }
                return .namespace(Namespace(attributes))
            },
            "dict": function("dict") { [unowned r] a in
                var dict = Dict()
                for value in a.positional {
                    guard case .dict(let source) = value else {
                        throw r.fail(.unsupported, "dict() of something other than a dict")
                    }
                    for pair in source.pairs { dict[pair.key] = pair.value }
                }
                for (key, value) in a.keyword { dict[key] = value }
                return .dict(dict)
            },
            "raise_exception": function("raise_exception") { [unowned r] a in
                throw r.fail(.raised, a.positional.first?.text.string ?? "")
            },
            "strftime_now": function("strftime_now") { [unowned r] a in
                guard case .string(let format)? = a.positional.first else {
                    throw r.fail(.type, "strftime_now() takes a format string")
                }
                return .string(format.transformed(try strftime(format.string, r.now, r)))
            },
        ]
    }

    /// Python's `datetime.strftime` for the directives chat templates use.
    static func strftime(_ format: String, _ date: Date, _ r: Renderer) throws -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone.current
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                      "October", "November", "December"]
        let days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
        let dayOfYear = calendar.ordinality(of: .day, in: .year, for: date) ?? 1
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        var out = ""
        var scalars = Array(format.unicodeScalars)[...]
        while let c0 = scalars.popFirst() {
            guard c0 == "%", let next = scalars.popFirst() else { out.unicodeScalars.append(c0); continue }
            var directive = next
            var unpadded = false
            if directive == "-", let d = scalars.popFirst() { unpadded = true; directive = d }
            func number(_ n: Int, width: Int = 2) -> String {
                unpadded ? "\(n)" : String(repeating: "0", count: max(0, width - String(n).count)) + "\(n)"
            }
            switch directive {
            case "Y": out += "\(c.year!)"
            case "y": out += two(c.year! % 100)
            case "m": out += number(c.month!)
            case "d": out += number(c.day!)
            case "e": out += c.day! < 10 ? " \(c.day!)" : "\(c.day!)"
            case "j": out += number(dayOfYear, width: 3)
            case "H": out += number(c.hour!)
            case "I": out += number((c.hour! + 11) % 12 + 1)
            case "M": out += number(c.minute!)
            case "S": out += number(c.second!)
            case "p": out += c.hour! < 12 ? "AM" : "PM"
            case "B": out += months[c.month! - 1]
            case "b", "h": out += String(months[c.month! - 1].prefix(3))
            case "A": out += days[c.weekday! - 1]
            case "a": out += String(days[c.weekday! - 1].prefix(3))
            case "%": out += "%"
            default: throw r.fail(.unsupported, "the strftime directive '%\(directive)'")
            }
        }
        return out
    }

    // MARK: attributes and items

    static let stringMethods: Set<String> = [
        "capitalize", "casefold", "center", "count", "encode", "endswith", "expandtabs", "find", "format",
        "format_map", "index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower",
        "isnumeric", "isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower", "lstrip",
        "maketrans", "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust",
        "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title",
        "translate", "upper", "zfill",
    ]
    static let dictMethods: Set<String> = ["clear", "copy", "fromkeys", "get", "items", "keys", "pop", "popitem",
                                           "setdefault", "update", "values"]
    static let listMethods: Set<String> = ["append", "clear", "copy", "count", "extend", "index", "insert", "pop",
                                           "remove", "reverse", "sort"]
    /// Methods the immutable sandbox refuses to call.
    static let mutators: Set<String> = ["append", "clear", "extend", "insert", "pop", "popitem", "remove", "reverse",
                                        "setdefault", "sort", "update"]

    /// `object.name`: Python's attribute first (methods), then the item of that name (Jinja2's getattr).
    static func attribute(_ object: Value, _ name: String, _ r: Renderer) throws -> Value {
        if name.hasPrefix("_") { return .undefined(hint: "access to attribute '\(name)' is unsafe") }
        if let method = try method(object, name, r) { return method }
        switch object {
        case .dict(let dict): if let value = dict[name] { return value }
        case .namespace(let namespace): if let value = namespace.attributes[name] { return value }
        default: break
        }
        return .undefined(hint: "\(ownerName(object)) has no attribute '\(name)'")
    }

    /// `object[key]`: the item first, then the attribute of that name.
    static func item(_ object: Value, _ key: Value, _ r: Renderer) throws -> Value {
        switch (object, key) {
        case (.dict(let dict), _):
            if let value = dict[key] { return value }
        case (.namespace(let namespace), .string(let name)):
            if let value = namespace.attributes[name.string] { return value }
        case (.list(let items), _), (.tuple(let items), _):
            if let i = key.integer {
                let index = i < 0 ? i + items.count : i
                if items.indices.contains(index) { return items[index] }
                return .undefined(hint: "\(typeObject(object)) has no element \(i)")
            }
        case (.string(let text), _):
            if let i = key.integer {
                let index = i < 0 ? i + text.count : i
                if index >= 0 && index < text.count { return .string(text.slice(index..<(index + 1))) }
                return .undefined(hint: "str object has no element \(i)")
            }
        default: break
        }
        if case .string(let name) = key { return try attribute(object, name.string, r) }
        return .undefined(hint: "\(typeObject(object)) has no element \(key.python(repr: true))")
    }

    private static func typeObject(_ value: Value) -> String {
        if case .none = value { return "None" }
        return "\(value.typeName) object"
    }

    private static func ownerName(_ value: Value) -> String { "'\(typeObject(value))'" }

    /// A bound method of a string, dict or list, or nil when `name` is not one.
    static func method(_ object: Value, _ name: String, _ r: Renderer) throws -> Value? {
        let owner: String
        switch object {
        case .string(let text):
            guard stringMethods.contains(name) else { return nil }
            return bound(name) { [unowned r] a in try stringMethod(text, name, a, r) }
        case .dict: guard dictMethods.contains(name) else { return nil }; owner = "dict"
        case .list, .tuple: guard listMethods.contains(name) else { return nil }; owner = object.typeName
        default: return nil
        }
        if mutators.contains(name) {
            return bound(name) { [unowned r] _ in
                throw r.fail(.security, "access to attribute '\(name)' of '\(owner)' object is unsafe.")
            }
        }
        return bound(name) { [unowned r] a in try containerMethod(object, name, a, r) }
    }

    private static func bound(_ name: String, _ body: @escaping (Arguments) throws -> Value) -> Value {
        .function(Function(name: name, call: body))
    }

    private static func containerMethod(_ object: Value, _ name: String,
                                        _ a: Arguments, _ r: Renderer) throws -> Value {
        switch (object, name) {
        case (.dict(let dict), "get"):
            let key = a.value(0, "key") ?? .none
            return dict[key] ?? a.value(1, "default") ?? .none
        case (.dict(let dict), "items"): return .list(dict.pairs.map { .tuple([$0.key, $0.value]) })
        case (.dict(let dict), "keys"): return .list(dict.keys)
        case (.dict(let dict), "values"): return .list(dict.pairs.map(\.value))
        case (.dict, "copy"), (.list, "copy"): return object
        case (.list(let items), "count"), (.tuple(let items), "count"):
            let needle = a.value(0, "value") ?? .none
            return .int(items.filter { Value.equal($0, needle) }.count)
        case (.list(let items), "index"), (.tuple(let items), "index"):
            let needle = a.value(0, "value") ?? .none
            guard let index = items.firstIndex(where: { Value.equal($0, needle) }) else {
                throw r.fail(.value, "\(needle.python(repr: true)) is not in list")
            }
            return .int(index)
        default:
            throw r.fail(.unsupported, "the method \(object.typeName).\(name)()")
        }
    }

    private static func text(_ value: Value?, _ what: String, _ r: Renderer) throws -> Text? {
        guard let value else { return nil }
        switch value {
        case .none: return nil
        case .string(let text): return text
        default: throw r.fail(.type, "\(what) must be str or None, not \(value.typeName)")
        }
    }

    static func stringMethod(_ s: Text, _ name: String, _ a: Arguments, _ r: Renderer) throws -> Value {
        func int(_ position: Int, _ label: String, _ fallback: Int) throws -> Int {
            guard let value = a.value(position, label) else { return fallback }
            guard let i = value.integer else {
                throw r.fail(.type, "'\(value.typeName)' object cannot be interpreted as an integer")
            }
            return i
        }
        func affixes(_ value: Value?) throws -> [Text] {
            switch value {
            case .string(let t)?: return [t]
            case .tuple(let items)?, .list(let items)?:
                return try items.map { item in
                    guard case .string(let t) = item else {
                        throw r.fail(.type, "a tuple of prefixes must hold strings")
                    }
                    return t
                }
            default:
                throw r.fail(.type, "\(name) first arg must be str or a tuple of str, " +
                             "not \(value?.typeName ?? "nothing")")
            }
        }
        switch name {
        case "strip": return .string(s.stripped(leading: true, trailing: true,
                                                characters: try text(a.value(0, "chars"), "strip arg", r)?.string))
        case "lstrip": return .string(s.stripped(leading: true, trailing: false,
                                                 characters: try text(a.value(0, "chars"), "lstrip arg", r)?.string))
        case "rstrip": return .string(s.stripped(leading: false, trailing: true,
                                                 characters: try text(a.value(0, "chars"), "rstrip arg", r)?.string))
        case "split":
            let separator = try text(a.value(0, "sep"), "sep", r)
            if let separator, separator.isEmpty { throw r.fail(.value, "empty separator") }
            return .list(s.split(separator: separator, maxSplit: try int(1, "maxsplit", -1)).map { .string($0) })
        case "rsplit":
            guard let separator = try text(a.value(0, "sep"), "sep", r) else {
                throw r.fail(.unsupported, "str.rsplit() without a separator")
            }
            if separator.isEmpty { throw r.fail(.value, "empty separator") }
            return .list(s.rsplit(separator: separator, maxSplit: try int(1, "maxsplit", -1)).map { .string($0) })
        case "splitlines":
            return .list(splitLines(s, keepEnds: a.value(0, "keepends")?.isTruthy ?? false).map { .string($0) })
        case "startswith", "endswith":
            let candidates = try affixes(a.value(0, "prefix"))
            guard a.positional.count < 2 else { throw r.fail(.unsupported, "\(name)() with start or end positions") }
            return .bool(candidates.contains { name == "startswith" ? s.hasPrefix($0) : s.hasSuffix($0) })
        case "replace":
            guard case .string(let old)? = a.value(0, "old"), case .string(let new)? = a.value(1, "new") else {
                throw r.fail(.type, "replace() takes two strings")
            }
            return .string(try replaced(s, old, new, limit: try int(2, "count", -1), r))
        case "upper": return .string(s.transformed(s.string.uppercased()))
        case "lower", "casefold": return .string(s.transformed(s.string.lowercased()))
        case "title": return .string(s.transformed(pythonTitle(s.string)))
        case "capitalize": return .string(s.transformed(capitalized(s.string)))
        case "swapcase":
            return .string(s.transformed(s.string.map { $0.isUppercase ? $0.lowercased() : $0.uppercased() }.joined()))
        case "find", "rfind", "index", "rindex", "count":
            guard case .string(let needle)? = a.value(0, "sub") else { throw r.fail(.type, "\(name)() takes a string") }
            guard a.positional.count < 2 else { throw r.fail(.unsupported, "\(name)() with start or end positions") }
            if name == "count" { return .int(needle.isEmpty ? s.count + 1 : s.occurrences(of: needle).count) }
            let positions = needle.isEmpty ? [0, s.count] : allPositions(of: needle, in: s)
            let found = name.hasPrefix("r") ? positions.last : positions.first
            if let found { return .int(found) }
            if name.hasSuffix("index") { throw r.fail(.value, "substring not found") }
            return .int(-1)
        case "join":
            guard let iterable = a.value(0, "iterable") else {
                throw r.fail(.type, "join() takes exactly one argument")
            }
            let parts = try r.iterate(iterable).map { item -> Text in
                guard case .string(let t) = item else {
                    throw r.fail(.type, "sequence item: expected str instance, \(item.typeName) found")
                }
                return t
            }
            return .string(try joined(parts, separator: s, r))
        case "format": return .string(try braceFormat(s, a, r))
        case "isdigit", "isdecimal", "isnumeric":
            return .bool(!s.isEmpty && s.scalars.allSatisfy { $0.properties.numericType != nil })
        case "isalpha": return .bool(!s.isEmpty && s.scalars.allSatisfy { $0.properties.isAlphabetic })
        case "isalnum":
            return .bool(!s.isEmpty && s.scalars.allSatisfy {
                $0.properties.isAlphabetic || $0.properties.numericType != nil
            })
        case "isspace": return .bool(!s.isEmpty && s.scalars.allSatisfy { $0.isPythonWhitespace })
        case "isupper", "islower":
            let cased = s.scalars.filter { $0.properties.isCased }
            let test: (Unicode.Scalar) -> Bool = name == "isupper"
                ? { !$0.properties.isLowercase } : { !$0.properties.isUppercase }
            return .bool(!cased.isEmpty && cased.allSatisfy(test))
        case "isascii": return .bool(s.scalars.allSatisfy { $0.isASCII })
        case "removeprefix", "removesuffix":
            guard case .string(let affix)? = a.value(0, "prefix") else {
                throw r.fail(.type, "\(name)() takes a string")
            }
            if name == "removeprefix" { return .string(s.hasPrefix(affix) ? s.slice(affix.count..<s.count) : s) }
            return .string(s.hasSuffix(affix) ? s.slice(0..<(s.count - affix.count)) : s)
        case "partition", "rpartition":
            guard case .string(let separator)? = a.value(0, "sep"), !separator.isEmpty else {
                throw r.fail(.value, "empty separator")
            }
            let positions = allPositions(of: separator, in: s)
            guard let at = name == "partition" ? positions.first : positions.last else {
                let empty = Value.string(Text(""))
                return name == "partition" ? .tuple([.string(s), empty, empty]) : .tuple([empty, empty, .string(s)])
            }
            return .tuple([.string(s.slice(0..<at)), .string(s.slice(at..<(at + separator.count))),
                           .string(s.slice((at + separator.count)..<s.count))])
        case "zfill":
            let width = try int(0, "width", 0)
            guard s.count < width else { return .string(s) }
            try r.charge(width)
            var digits = s.string
            var sign = ""
            if let first = digits.first, first == "+" || first == "-" { sign = String(first); digits.removeFirst() }
            return .string(s.transformed(sign + String(repeating: "0", count: width - s.count) + digits))
        default:
            throw r.fail(.unsupported, "the method str.\(name)()")
        }
    }

    /// `str.replace` and the `replace` filter, charged for the string they build.
    static func replaced(_ s: Text, _ old: Text, _ new: Text, limit: Int, _ r: Renderer) throws -> Text {
        let found = old.isEmpty ? s.count + 1 : s.occurrences(of: old, limit: limit < 0 ? .max : limit).count
        let replacements = limit < 0 ? found : min(found, limit)
        let (grown, overflow) = replacements.multipliedReportingOverflow(by: new.count)
        try r.charge(overflow ? .max : s.count + grown)
        return s.replacing(old, with: new, limit: limit)
    }

    /// `str.join` and the `join` filter, charged for the string they build.
    static func joined(_ parts: [Text], separator: Text, _ r: Renderer) throws -> Text {
        try r.charge(parts.reduce(0) { $0 + $1.count } + max(0, parts.count - 1) * separator.count)
        return Text.joined(parts, separator: separator)
    }

    /// Every offset where `needle` starts, overlapping allowed (for find/rfind/partition).
    private static func allPositions(of needle: Text, in s: Text) -> [Int] {
        let hay = s.scalars, pattern = needle.scalars
        guard pattern.count <= hay.count else { return [] }
        return (0...(hay.count - pattern.count)).filter { Array(hay[$0..<($0 + pattern.count)]) == pattern }
    }

    /// Python's `str.splitlines`.
    static func splitLines(_ s: Text, keepEnds: Bool) -> [Text] {
        let scalars = s.scalars
        var lines: [Text] = []
        var start = 0, i = 0
        while i < scalars.count {
            let c = scalars[i]
            let isBreak = [0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029].contains(c.value)
            guard isBreak else { i += 1; continue }
            var end = i + 1
            if c == "\r", end < scalars.count, scalars[end] == "\n" { end += 1 }
            lines.append(s.slice(start..<(keepEnds ? end : i)))
            start = end
            i = end
        }
        if start < scalars.count { lines.append(s.slice(start..<scalars.count)) }
        return lines
    }

    /// Python's `str.title`: upper case after any non-letter, lower case after a letter.
    static func pythonTitle(_ s: String) -> String {
        var out = ""
        var previousCased = false
        for c in s {
            out += previousCased ? c.lowercased() : c.uppercased()
            previousCased = c.isLetter
        }
        return out
    }

    static func capitalized(_ s: String) -> String {
        guard let first = s.first else { return s }
        return first.uppercased() + s.dropFirst().lowercased()
    }

    /// `str.format` with `{}`, `{0}` and `{name}` fields (no format specs).
    private static func braceFormat(_ format: Text, _ a: Arguments, _ r: Renderer) throws -> Text {
        let scalars = format.scalars
        var pieces: [Text] = []
        var start = 0, i = 0, automatic = 0
        while i < scalars.count {
            let c = scalars[i]
            if (c == "{" || c == "}"), i + 1 < scalars.count, scalars[i + 1] == c {
                pieces.append(format.slice(start..<(i + 1)))
                i += 2
                start = i
                continue
            }
            if c == "}" { throw r.fail(.value, "single '}' encountered in format string") }
            guard c == "{" else { i += 1; continue }
            pieces.append(format.slice(start..<i))
            guard let close = scalars[i...].firstIndex(of: "}") else {
                throw r.fail(.value, "single '{' encountered in format string")
            }
            let field = String(String.UnicodeScalarView(scalars[(i + 1)..<close]))
            if field.contains(":") || field.contains("!") || field.contains("[") || field.contains(".") {
                throw r.fail(.unsupported, "the format field '{\(field)}' of str.format()")
            }
            let value: Value?
            if field.isEmpty {
                value = automatic < a.positional.count ? a.positional[automatic] : nil
                automatic += 1
            } else if field.allSatisfy(\.isASCII), field.allSatisfy(\.isNumber), let index = Int(field) {
                value = index < a.positional.count ? a.positional[index] : nil
            } else {
                value = a.keyword.first { $0.0 == field }?.1
            }
            guard let value else { throw r.fail(.value, "no argument for the format field '{\(field)}'") }
            pieces.append(value.text)
            i = close + 1
            start = i
        }
        pieces.append(format.slice(start..<scalars.count))
        try r.charge(pieces.reduce(0) { $0 + $1.count })
        return Text.joined(pieces)
    }

    // MARK: tests

    static let testNames: Set<String> = [
        "odd", "even", "divisibleby", "defined", "undefined", "filter", "test", "none", "boolean", "false", "true",
        "integer", "float", "lower", "upper", "string", "mapping", "number", "sequence", "iterable", "callable",
        "sameas", "escaped", "in", "==", "eq", "equalto", "!=", "ne", ">", "gt", "greaterthan", ">=", "ge",
        "<", "lt", "lessthan", "<=", "le",
    ]

    static func test(_ name: String, _ value: Value, _ arguments: [Value], _ r: Renderer) throws -> Bool {
        func argument() throws -> Value {
            guard let first = arguments.first else { throw r.fail(.type, "the test '\(name)' needs an argument") }
            return first
        }
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": if case .none = value { return true }; return false
        case "boolean": if case .bool = value { return true }; return false
        case "true": if case .bool(true) = value { return true }; return false
        case "false": if case .bool(false) = value { return true }; return false
        case "integer": if case .int = value { return true }; return false
        case "float": if case .double = value { return true }; return false
        case "number": return value.number != nil
        case "string": if case .string = value { return true }; return false
        case "mapping": if case .dict = value { return true }; return false
        case "iterable", "sequence":
            switch value {
            case .undefined, .string, .list, .tuple, .dict: return true
            default: return false
            }
        case "callable": if case .function = value { return true }; return false
        case "lower", "upper":
            guard case .string(let s) = value else { return false }
            return try stringMethod(s, "is" + name, Arguments(positional: [], keyword: []), r).isTruthy
        case "odd", "even", "divisibleby":
            guard let n = try r.defined(value).integer else {
                throw r.fail(.type, "the test '\(name)' needs an integer")
            }
            if name == "divisibleby" {
                guard let d = try argument().integer, d != 0 else {
                    throw r.fail(.value, "divisibleby needs a non-zero integer")
                }
                return n.remainderReportingOverflow(dividingBy: d).partialValue == 0
            }
            return (n % 2 != 0) == (name == "odd")
        case "sameas":
            let other = try argument()
            switch (value, other) {
            case (.none, .none): return true
            case (.bool(let x), .bool(let y)): return x == y
            case (.namespace(let x), .namespace(let y)): return x === y
            default: return false
            }
        case "escaped": return false
        case "filter": if case .string(let s) = value { return filterNames.contains(s.string) }; return false
        case "test": if case .string(let s) = value { return testNames.contains(s.string) }; return false
        case "in": return try Operators.contains(try argument(), value, r)
        case "==", "eq", "equalto": return try Operators.compare("==", value, try argument(), r)
        case "!=", "ne": return try Operators.compare("!=", value, try argument(), r)
        case "<", "lt", "lessthan": return try Operators.compare("<", value, try argument(), r)
        case "<=", "le": return try Operators.compare("<=", value, try argument(), r)
        case ">", "gt", "greaterthan": return try Operators.compare(">", value, try argument(), r)
        case ">=", "ge": return try Operators.compare(">=", value, try argument(), r)
        default: throw r.fail(.runtime, "no test named '\(name)'")
        }
    }
}
