import Foundation
import HDF5Kit

/// The archive target's text form of an HDF5 file, one object per line, so that libFuzzer's mutations change
/// what an archive says (values, shapes, types, names, missing or extra objects) while HDF5Kit always writes
/// a well-formed file from it:
///
///     group PATH
///     attr PATH NAME TYPE VALUE...     TYPE: string strings int ints float floats double doubles
///     data PATH TYPE SHAPE VALUE...    TYPE: float32 float64 int32 int64 uint8; SHAPE: scalar, 4, 2x3, …
///
/// Paths, names and strings are percent-escaped (%20 a space, %0A a newline, %25 a percent sign). A
/// dataset's missing values are 0 and its extra values are dropped; a line that cannot be written is
/// skipped, as is everything past the size limits (a description is small, whatever it claims).
enum ArchiveText {
    static let maxLines = 4000
    static let maxValues = 4096          // per dataset or attribute
    static let maxTotalValues = 65536    // per file

    // MARK: Text → file

    static func write(_ text: String, to url: URL) throws {
        try HDF5File.create(at: url) { root in
            var groups: [String: HDF5Group] = ["": root]
            var datasets: [String: HDF5Dataset] = [:]
            var total = 0
            func group(_ path: String) throws -> HDF5Group {
                let key = normalized(path)
                if let found = groups[key] { return found }
                let parts = key.split(separator: "/").map(String.init)
                let parent = try group(parts.dropLast().joined(separator: "/"))
                let name = parts.last ?? ""
                let made = parent.kind(of: name) == .group ? try parent.group(name) : try parent.createGroup(name)
                groups[key] = made
                return made
            }
            for line in text.split(separator: "\n", omittingEmptySubsequences: true).prefix(maxLines) {
                let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
                guard let verb = words.first else { continue }
                switch verb {
                case "group" where words.count >= 2:
                    _ = try? group(unescape(words[1]))
                case "attr" where words.count >= 4:
                    let path = normalized(unescape(words[1]))
                    guard let value = attribute(words[3], Array(words.dropFirst(4))) else { continue }
                    let holder: (any HDF5AttributeHolder)? = datasets[path] ?? (try? group(path))
                    try? holder?.setAttribute(unescape(words[2]), value)
                case "data" where words.count >= 4:
                    let path = normalized(unescape(words[1]))
                    let parts = path.split(separator: "/").map(String.init)
                    guard let name = parts.last, let shape = shape(words[3]) else { continue }
                    let count = shape.reduce(1, *)
                    guard total + count <= maxTotalValues,
                          let parent = try? group(parts.dropLast().joined(separator: "/")) else { continue }
                    total += count
                    let values = Array(words.dropFirst(4))
                    if let dataset = try? write(parent, name, words[2], shape, values) { datasets[path] = dataset }
                default:
                    continue
                }
            }
        }
    }

    static func normalized(_ path: String) -> String { path.split(separator: "/").joined(separator: "/") }

    static func shape(_ word: String) -> [Int]? {
        if word == "scalar" { return [] }
        let dims = word.split(separator: "x").map { Int($0) }
        let shape = dims.compactMap { $0 }
        guard !shape.isEmpty, shape.count == dims.count, shape.count <= 4,
              shape.allSatisfy({ (0...maxValues).contains($0) }) else { return nil }
        guard shape.reduce(1, *) <= maxValues else { return nil }
        return shape
    }

    static func write(_ group: HDF5Group, _ name: String, _ type: String, _ shape: [Int],
                      _ words: [String]) throws -> HDF5Dataset? {
        let count = shape.reduce(1, *)
        func values<T>(_ parse: (String) -> T?, _ zero: T) -> [T] {
            (0..<count).map { $0 < words.count ? parse(words[$0]) ?? zero : zero }
        }
        switch type {
        case "float32": return try group.write(name, values({ Float($0) }, 0), shape: shape)
        case "float64": return try group.write(name, values({ Double($0) }, 0), shape: shape)
        case "int32": return try group.write(name, values({ Int32($0) }, 0), shape: shape)
        case "int64": return try group.write(name, values({ Int64($0) }, 0), shape: shape)
        case "uint8": return try group.write(name, values({ UInt8($0) }, 0), shape: shape)
        default: return nil
        }
    }

    static func attribute(_ type: String, _ words: [String]) -> HDF5AttributeValue? {
        let words = Array(words.prefix(maxValues))
        switch type {
        case "string": return .string(unescape(words.first ?? ""))
        case "strings": return .strings(words.map(unescape))
        case "int": return Int64(words.first ?? "").map { .int($0) }
        case "ints": return .ints(words.compactMap { Int64($0) })
        case "float": return Float(words.first ?? "").map { .float($0) }
        case "floats": return .floats(words.compactMap { Float($0) })
        case "double": return Double(words.first ?? "").map { .double($0) }
        case "doubles": return .doubles(words.compactMap { Double($0) })
        default: return nil
        }
    }

    // MARK: File → text (the seeds)

    static func dump(_ url: URL) throws -> String {
        let file = try HDF5File.open(at: url)
        defer { file.close() }
        var lines: [String] = []
        func attributes(_ holder: any HDF5AttributeHolder, _ path: String) throws {
            for name in try holder.attributeNames() {
                let words: [String]
                switch try holder.attribute(name) {
                case .string(let s): words = ["string", escape(s)]
                case .strings(let s): words = ["strings"] + s.map(escape)
                case .int(let i): words = ["int", "\(i)"]
                case .ints(let i): words = ["ints"] + i.map { "\($0)" }
                case .float(let f): words = ["float", "\(f)"]
                case .floats(let f): words = ["floats"] + f.map { "\($0)" }
                case .double(let d): words = ["double", "\(d)"]
                case .doubles(let d): words = ["doubles"] + d.map { "\($0)" }
                }
                lines.append((["attr", escape(path), escape(name)] + words).joined(separator: " "))
            }
        }
        func walk(_ group: HDF5Group, _ path: String) throws {
            lines.append("group \(escape(path))")
            try attributes(group, path)
            for name in try group.children() {
                let child = path == "/" ? "/\(name)" : "\(path)/\(name)"
                switch group.kind(of: name) {
                case .group?: try walk(try group.group(name), child)
                case .dataset?:
                    let dataset = try group.dataset(name)
                    let type = try dataset.elementType()
                    let (shape, values): ([Int], [String])
                    switch type {
                    case "float32": (shape, values) = try strings(dataset.read(as: Float.self))
                    case "float64": (shape, values) = try strings(dataset.read(as: Double.self))
                    case "int32": (shape, values) = try strings(dataset.read(as: Int32.self))
                    case "int64": (shape, values) = try strings(dataset.read(as: Int64.self))
                    case "uint8": (shape, values) = try strings(dataset.read(as: UInt8.self))
                    default: continue
                    }
                    let dims = shape.isEmpty ? "scalar" : shape.map(String.init).joined(separator: "x")
                    lines.append((["data", escape(child), type, dims] + values).joined(separator: " "))
                    try attributes(dataset, child)
                default: continue
                }
            }
        }
        try walk(file.root, "/")
        return lines.joined(separator: "\n") + "\n"
    }

    static func strings<T>(_ read: (shape: [Int], values: [T])) -> ([Int], [String]) {
        (read.shape, read.values.map { "\($0)" })
    }

    static let plain = CharacterSet.alphanumerics
        .union(CharacterSet(charactersIn: "-_./:,;=+*()[]{}<>@#!?'\"&^~`|\\$"))

    static func escape(_ text: String) -> String {
        text.isEmpty ? "%" : text.addingPercentEncoding(withAllowedCharacters: plain) ?? text
    }

    static func unescape(_ word: String) -> String {
        word == "%" ? "" : word.removingPercentEncoding ?? word
    }
}
