import AtomicFiles
import Foundation
import JSON
#if canImport(Glibc)
import Glibc
#endif

/// Which reader a dataset needs, and how its columns map to text and label.
public struct DatasetSpec: Sendable, Equatable {
    public enum Format: String, Sendable, CaseIterable {
        case polarity, csv, jsonl, json
        case crowsPairs = "crows_pairs", stereoset, winobias, bbq
        case bigbenchArithmetic = "bigbench_arithmetic"
        case imdb, wikitext, toxicity, asdiv
    }

    public var format: Format
    public var path: String
    /// Column holding the text (csv/jsonl/json); the named formats know their own.
    public var textColumn: String?
    /// Column holding the label; nil for unlabelled data.
    public var labelColumn: String?
    /// Raw label → class index; nil lets the loader number the distinct labels in sorted order.
    public var labels: [String: Int]?
    /// Skip rows with a missing or empty field instead of failing (the count is reported).
    public var skipIncomplete: Bool
    /// Keep only the first `limit` examples (after loading, before splitting).
    public var limit: Int?

    public init(format: Format, path: String, textColumn: String? = nil, labelColumn: String? = nil,
                labels: [String: Int]? = nil, skipIncomplete: Bool = false, limit: Int? = nil) {
        self.format = format
        self.path = path
        self.textColumn = textColumn
        self.labelColumn = labelColumn
        self.labels = labels
        self.skipIncomplete = skipIncomplete
        self.limit = limit
    }
}

public struct LoadedDataset: Sendable {
    public var examples: [Example]
    /// Class names by index (raw label values), empty for unlabelled data.
    public var classes: [String]
    /// Rows skipped for missing fields (only with skipIncomplete).
    public var skipped: Int
}

/// Reads the datasets Scalpel ships recipes for, and any CSV, JSONL or JSON with named columns.
/// Texts are trimmed of surrounding whitespace (Pang & Lee's sentences end in " \n").
public enum DatasetLoader {
    public static func load(_ spec: DatasetSpec) throws -> LoadedDataset {
        var skipped = 0
        var rows: [(row: Int, fields: [String: String])]
        switch spec.format {
        case .polarity:
            rows = try csvRows(spec.path, header: ["label", "text"])
            return try finish(spec, rows, textColumn: "text", labelColumn: "label", fixedLabels: ["-1": 0, "1": 1],
                              classNames: ["-1", "1"], &skipped)
        case .csv:
            rows = try csvRows(spec.path, header: nil)
        case .imdb:
            rows = try csvRows(spec.path, header: nil)
            return try finish(spec, rows, textColumn: spec.textColumn ?? "text",
                              labelColumn: spec.labelColumn ?? "label", &skipped)
        case .jsonl, .wikitext, .toxicity, .asdiv, .bbq:
            rows = try jsonlRows(spec.path)
        case .json:
            rows = try jsonArrayRows(spec.path)
        case .crowsPairs:
            rows = try csvRows(spec.path, header: nil)
            return try pairs(spec, rows, first: "sent_more", second: "sent_less", &skipped)
        case .stereoset:
            return try stereoset(spec)
        case .winobias:
            return try winobias(spec)
        case .bigbenchArithmetic:
            return try bigbench(spec)
        }
        switch spec.format {
        case .asdiv:
            rows = rows.map { r in
                var f = r.fields; f["text"] = [f["passage"], f["question"]].compactMap { $0 }.joined(separator: " ")
                return (r.row, f)
            }
            return try finish(spec, rows, textColumn: "text", labelColumn: nil, &skipped)
        case .bbq:
            rows = rows.map { r in
                var f = r.fields; f["text"] = [f["context"], f["question"]].compactMap { $0 }.joined(separator: "\n")
                return (r.row, f)
            }
            return try finish(spec, rows, textColumn: "text", labelColumn: spec.labelColumn ?? "label", &skipped)
        case .wikitext, .toxicity:
            return try finish(spec, rows, textColumn: "text", labelColumn: spec.labelColumn, &skipped)
        default:
            guard let text = spec.textColumn else {
                throw DatasetError.malformed(
                    path: spec.path, row: 0,
                    detail: "a \(spec.format.rawValue) dataset needs data.text, the column that holds the text")
            }
            return try finish(spec, rows, textColumn: text, labelColumn: spec.labelColumn, &skipped)
        }
    }

    // MARK: - Readers

    /// The files a path names: itself, or, if it holds `*`, `?`, `[` or `{`, the files matching it as a glob
    /// pattern (with braces: `{1,2}_digit_addition`), sorted. A pattern that matches nothing is an error.
    public static func matchingFiles(_ path: String) throws -> [String] {
        guard path.contains(where: { "*?[{".contains($0) }) else { return [path] }
        var result = glob_t()
        defer { globfree(&result) }
        guard glob(path, GLOB_BRACE, nil, &result) == 0, result.gl_pathc > 0 else {
            throw DatasetError.cannotRead(path: path, reason: "no file matches this pattern")
        }
        return (0..<Int(result.gl_pathc)).compactMap { result.gl_pathv[$0].map { String(cString: $0) } }.sorted()
    }

    static func read(_ path: String) throws -> String {
        do { return try UserFile.text(path) } catch let error as UserFileError {
            throw DatasetError.cannotRead(path: path, reason: error.reason)
        } catch let error as InvalidUTF8Error {
            throw DatasetError.cannotRead(
                path: path, reason: "not UTF-8 text (byte offset \(error.offset)); convert it with iconv -t UTF-8")
        }
    }

    /// CSV rows as column → value; `header` names the columns of a headerless file.
    static func csvRows(_ path: String, header: [String]?) throws -> [(row: Int, fields: [String: String])] {
        let records: [(line: Int, fields: [String])]
        do { records = try CSVReader.parse(try read(path)) } catch let error as CSVReader.ParseError {
            throw DatasetError.malformed(path: path, row: error.line, detail: error.detail)
        }
        guard !records.isEmpty else { throw DatasetError.empty(path: path) }
        let names = header ?? records[0].fields
        let body = header == nil ? records.dropFirst() : records[...]
        return try body.map { record in
            guard record.fields.count == names.count else {
                throw DatasetError.malformed(
                    path: path, row: record.line,
                    detail: "\(record.fields.count) fields where the header has \(names.count)")
            }
            return (record.line, Dictionary(zip(names, record.fields), uniquingKeysWith: { a, _ in a }))
        }
    }

    static func jsonlRows(_ path: String) throws -> [(row: Int, fields: [String: String])] {
        var rows: [(Int, [String: String])] = []
        // Split on any line break: in Swift "\r\n" is one Character, so splitting on "\n" would miss CRLF files.
        for (i, line) in try read(path).split(omittingEmptySubsequences: false,
                                              whereSeparator: \.isNewline).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            rows.append((i + 1, try object(Array(trimmed.utf8), path: path, row: i + 1)))
        }
        guard !rows.isEmpty else { throw DatasetError.empty(path: path) }
        return rows
    }

    static func jsonArrayRows(_ path: String) throws -> [(row: Int, fields: [String: String])] {
        let bytes = Array(try read(path).utf8)
        let value: JSONValue
        do { value = try bytes.withUnsafeBytes { try StrictJSONParser.parse($0, rejectDuplicateKeys: false) } } catch {
            throw DatasetError.malformed(path: path, row: 0, detail: "not valid JSON (\(error))")
        }
        guard case .array(let items) = value else {
            throw DatasetError.malformed(path: path, row: 0, detail: "a json dataset must be an array of objects")
        }
        return try items.enumerated().map { i, item in (i + 1, try flatten(item, path: path, row: i + 1)) }
    }

    static func object(_ bytes: [UInt8], path: String, row: Int) throws -> [String: String] {
        let value: JSONValue
        do { value = try bytes.withUnsafeBytes { try StrictJSONParser.parse($0, rejectDuplicateKeys: false) } } catch {
            throw DatasetError.malformed(path: path, row: row, detail: "not valid JSON (\(error))")
        }
        return try flatten(value, path: path, row: row)
    }

    /// A JSON object's scalar members as strings (nested values are kept as JSON text).
    static func flatten(_ value: JSONValue, path: String, row: Int) throws -> [String: String] {
        guard case .object(let members) = value else {
            throw DatasetError.malformed(path: path, row: row, detail: "not a JSON object")
        }
        var fields: [String: String] = [:]
        for (key, member) in members {
            switch member {
            case .string(let s): fields[key] = s
            case .integer(let i): fields[key] = String(i)
            case .number(let d): fields[key] = String(d)
            case .bool(let b): fields[key] = String(b)
            case .null: break
            default: fields[key] = "\(member)"
            }
        }
        return fields
    }

    // MARK: - Assembling examples

    static func finish(_ spec: DatasetSpec, _ rows: [(row: Int, fields: [String: String])], textColumn: String,
                       labelColumn: String?, fixedLabels: [String: Int]? = nil, classNames: [String]? = nil,
                       _ skipped: inout Int) throws -> LoadedDataset {
        let columns = Set(rows.flatMap { $0.fields.keys })
        guard let pattern = TextPattern(textColumn) else {
            throw DatasetError.malformed(path: spec.path, row: 0, detail: "the text pattern \"\(textColumn)\" " +
                                         "has an unclosed or empty {column}; write each column as {name}")
        }
        for column in pattern.columns + [labelColumn].compactMap({ $0 }) where !columns.contains(column) {
            throw DatasetError.unknownColumn(path: spec.path, column: column, columns: columns.sorted())
        }
        var kept: [(Int, [String: String], String, String?)] = []
        for (row, fields) in rows {
            let (text, emptyColumn) = pattern.fill(fields)
            let raw = labelColumn.map { fields[$0]?.trimmingCharacters(in: .whitespaces) ?? "" }
            let missing = emptyColumn ?? (raw?.isEmpty == true ? labelColumn : nil)
            if let missing {
                if spec.skipIncomplete { skipped += 1; continue }
                throw DatasetError.missingField(path: spec.path, row: row, field: missing)
            }
            kept.append((row, fields, text, raw))
        }
        var mapping = spec.labels ?? fixedLabels
        var classes = classNames ?? []
        if labelColumn != nil && mapping == nil {
            let distinct = Set(kept.compactMap(\.3))
            let sorted = distinct.allSatisfy { Double($0) != nil }
                ? distinct.sorted { Double($0)! < Double($1)! } : distinct.sorted()
            mapping = Dictionary(uniqueKeysWithValues: sorted.enumerated().map { ($1, $0) })
            classes = sorted
        } else if let mapping, classes.isEmpty {
            classes = mapping.sorted { $0.value < $1.value }.map(\.key)
        }
        var examples: [Example] = []
        for (row, fields, text, raw) in kept {
            var label: Int?
            if let raw {
                guard let index = mapping?[raw] else {
                    throw DatasetError.unknownLabel(path: spec.path, row: row, value: raw,
                                                    known: mapping!.keys.sorted())
                }
                label = index
            }
            examples.append(Example(source: spec.path, row: row, text: text, label: label, fields: fields))
        }
        if let limit = spec.limit { examples = Array(examples.prefix(limit)) }
        guard !examples.isEmpty else { throw DatasetError.empty(path: spec.path) }
        return LoadedDataset(examples: examples, classes: labelColumn == nil ? [] : classes, skipped: skipped)
    }

    /// Sentence pairs: `first` is the more stereotypical sentence, `second` the less.
    static func pairs(_ spec: DatasetSpec, _ rows: [(row: Int, fields: [String: String])], first: String,
                      second: String, _ skipped: inout Int) throws -> LoadedDataset {
        var examples: [Example] = []
        for (row, fields) in rows {
            let a = fields[first]?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            let b = fields[second]?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            if a.isEmpty || b.isEmpty {
                if spec.skipIncomplete { skipped += 1; continue }
                throw DatasetError.missingField(path: spec.path, row: row, field: a.isEmpty ? first : second)
            }
            examples.append(Example(source: spec.path, row: row, text: a, pair: b, fields: fields))
        }
        if let limit = spec.limit { examples = Array(examples.prefix(limit)) }
        guard !examples.isEmpty else { throw DatasetError.empty(path: spec.path) }
        return LoadedDataset(examples: examples, classes: [], skipped: skipped)
    }

    /// StereoSet's intrasentence items: the stereotype sentence paired with the anti-stereotype one.
    static func stereoset(_ spec: DatasetSpec) throws -> LoadedDataset {
        let bytes = Array(try read(spec.path).utf8)
        let value = try bytes.withUnsafeBytes { try StrictJSONParser.parse($0, rejectDuplicateKeys: false) }
        guard case .array(let items)? = value["data"]?["intrasentence"] else {
            throw DatasetError.malformed(path: spec.path, row: 0, detail: "no data.intrasentence list")
        }
        var examples: [Example] = []
        var skipped = 0
        for (i, item) in items.enumerated() {
            var byLabel: [String: String] = [:]
            if case .array(let sentences)? = item["sentences"] {
                for s in sentences {
                    if case .string(let text)? = s["sentence"], case .string(let gold)? = s["gold_label"] {
                        byLabel[gold] = text
                    }
                }
            }
            guard let stereo = byLabel["stereotype"], let anti = byLabel["anti-stereotype"] else {
                if spec.skipIncomplete { skipped += 1; continue }
                throw DatasetError.missingField(
                    path: spec.path, row: i + 1,
                    field: byLabel["stereotype"] == nil ? "stereotype sentence" : "anti-stereotype sentence")
            }
            var fields: [String: String] = [:]
            for key in ["bias_type", "target", "context", "id"] {
                if case .string(let s)? = item[key] { fields[key] = s }
            }
            examples.append(Example(source: spec.path, row: i + 1, text: stereo, pair: anti, fields: fields))
        }
        if let limit = spec.limit { examples = Array(examples.prefix(limit)) }
        return LoadedDataset(examples: examples, classes: [], skipped: skipped)
    }

    /// WinoBias: line i of a pro-stereotyped file pairs with line i of its anti-stereotyped twin.
    /// `path` names the pro file; brackets and leading line numbers are removed.
    static func winobias(_ spec: DatasetSpec) throws -> LoadedDataset {
        let antiPath = spec.path.replacingOccurrences(of: "pro_stereotyped", with: "anti_stereotyped")
        guard antiPath != spec.path else {
            throw DatasetError.malformed(
                path: spec.path, row: 0,
                detail: "data.path must name a pro_stereotyped_*.txt file; " +
                    "its anti_stereotyped twin is read beside it")
        }
        func lines(_ path: String) throws -> [String] {
            try read(path).split(whereSeparator: \.isNewline).map { line in
                var s = String(line)
                if let space = s.firstIndex(of: " "), Int(s[..<space]) != nil {
                    s = String(s[s.index(after: space)...])
                }
                return s.replacingOccurrences(of: "[", with: "").replacingOccurrences(of: "]", with: "")
                    .trimmingCharacters(in: .whitespaces)
            }
        }
        let pro = try lines(spec.path), anti = try lines(antiPath)
        guard pro.count == anti.count else {
            throw DatasetError.malformed(
                path: antiPath, row: min(pro.count, anti.count) + 1,
                detail: "\(anti.count) lines where \(spec.path) has \(pro.count)")
        }
        var examples = zip(pro, anti).enumerated().map { i, p in
            Example(source: spec.path, row: i + 1, text: p.0, pair: p.1)
        }
        if let limit = spec.limit { examples = Array(examples.prefix(limit)) }
        return LoadedDataset(examples: examples, classes: [], skipped: 0)
    }

    /// BIG-bench JSON tasks: each example's input is the text; its target goes to fields["target"].
    /// `path` may be a glob pattern (`data/bigbench/arithmetic/{1,2}_digit_addition/task.json`):
    /// the matching files are read in sorted order, and each example's `task` column names its task.
    static func bigbench(_ spec: DatasetSpec) throws -> LoadedDataset {
        let files = try matchingFiles(spec.path)
        var examples: [Example] = []
        var skipped = 0
        for file in files {
            let bytes = Array(try read(file).utf8)
            let value = try bytes.withUnsafeBytes { try StrictJSONParser.parse($0, rejectDuplicateKeys: false) }
            guard case .array(let items)? = value["examples"] else {
                throw DatasetError.malformed(path: file, row: 0, detail: "no examples list")
            }
            let task: String
            if case .string(let name)? = value["name"] {
                task = name
            } else {
                task = URL(fileURLWithPath: file).deletingLastPathComponent().lastPathComponent
            }
            for (i, item) in items.enumerated() {
                guard case .string(let input)? = item["input"], case .string(let target)? = item["target"] else {
                    if spec.skipIncomplete { skipped += 1; continue }
                    throw DatasetError.missingField(path: file, row: i + 1,
                                                    field: item["input"] == nil ? "input" : "target")
                }
                examples.append(Example(source: file, row: i + 1, text: input,
                                        fields: ["input": input, "target": target, "task": task]))
            }
        }
        if let limit = spec.limit { examples = Array(examples.prefix(limit)) }
        return LoadedDataset(examples: examples, classes: [], skipped: skipped)
    }
}

/// The text of an example: one column (`text`), or a pattern of columns in braces
/// (`"{premise}\nQuestion: {hypothesis}"`), each filled with its column's value, trimmed.
struct TextPattern {
    /// Literal pieces and column names, in order.
    enum Piece { case literal(String), column(String) }
    let pieces: [Piece]

    /// nil when a brace is left open, or a pair of braces names nothing or holds another `{`.
    init?(_ text: String) {
        guard text.contains("{") || text.contains("}") else { pieces = [.column(text)]; return }
        var pieces: [Piece] = [], rest = Substring(text)
        while let open = rest.firstIndex(of: "{") {
            guard let close = rest[open...].firstIndex(of: "}") else { return nil }
            let name = rest[rest.index(after: open)..<close]
            guard !name.isEmpty, !name.contains("{"), !rest[..<open].contains("}") else { return nil }
            if open > rest.startIndex { pieces.append(.literal(String(rest[..<open]))) }
            pieces.append(.column(String(name)))
            rest = rest[rest.index(after: close)...]
        }
        guard !rest.contains("}") else { return nil }
        if !rest.isEmpty { pieces.append(.literal(String(rest))) }
        self.pieces = pieces
    }

    var columns: [String] {
        pieces.compactMap { if case .column(let name) = $0 { return name } else { return nil } }
    }

    /// The filled text (trimmed), and the first column that was missing or empty, if any.
    func fill(_ fields: [String: String]) -> (text: String, empty: String?) {
        var text = "", empty: String?
        for piece in pieces {
            switch piece {
            case .literal(let literal): text += literal
            case .column(let name):
                let value = fields[name]?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
                if value.isEmpty && empty == nil { empty = name }
                text += value
            }
        }
        return (text.trimmingCharacters(in: .whitespacesAndNewlines), empty)
    }
}
