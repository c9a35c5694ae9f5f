import Testing
import Foundation

/// docs/architecture.md's table of targets is the package's real graph, and no module imports a package
/// module it does not declare (one that compiles today only because another dependency brings it).
@Suite struct ArchitectureTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    struct Target { var kind: String; var dependencies: Set<String> }

    /// Package.swift's targets and the names in their `dependencies: [...]` lists (products included).
    static func targets() throws -> [String: Target] {
        let text = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        var out: [String: Target] = [:]
        let kinds = ["target", "executableTarget", "systemLibrary", "testTarget"]
        let pattern = try NSRegularExpression(pattern: "\\.(" + kinds.joined(separator: "|") + ")\\(")
        let ns = text as NSString
        for match in pattern.matches(in: text, range: NSRange(location: 0, length: ns.length)) {
            let kind = ns.substring(with: match.range(at: 1))
            let body = enclosed(ns.substring(from: match.range.upperBound), open: "(", close: ")")
            guard let name = quoted(after: "name:", in: body) else { continue }
            var dependencies: Set<String> = []
            if let start = body.range(of: "dependencies:") {
                let list = enclosed(String(body[start.upperBound...].drop { $0 != "[" }.dropFirst()), open: "[", close: "]")
                dependencies = Set(strings(in: list))
            }
            out[name] = Target(kind: kind, dependencies: dependencies)
        }
        return out
    }

    /// The text up to the bracket that closes one already open.
    static func enclosed(_ text: String, open: Character, close: Character) -> String {
        var depth = 1
        for (i, c) in zip(text.indices, text) {
            if c == open { depth += 1 }
            if c == close { depth -= 1; if depth == 0 { return String(text[..<i]) } }
        }
        return text
    }

    static func strings(in text: String) -> [String] {
        text.split(separator: "\"", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
    }

    static func quoted(after key: String, in text: String) -> String? {
        guard let r = text.range(of: key) else { return nil }
        return strings(in: String(text[r.upperBound...])).first
    }

    /// The modules a folder's Swift files import.
    static func imports(_ folder: URL) -> Set<String> {
        var out: Set<String> = []
        guard let files = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: nil) else { return out }
        for case let file as URL in files where file.pathExtension == "swift" {
            guard let text = try? String(contentsOf: file, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ").filter { !$0.hasPrefix("@") }
                if words.count >= 2, words[0] == "import" { out.insert(String(words[1])) }
            }
        }
        return out
    }

    @Test func everyImportIsDeclared() throws {
        let targets = try Self.targets()
        #expect(targets.count > 20, "Package.swift's targets were read")
        for (name, target) in targets where target.kind != "systemLibrary" {
            let folder = Self.root.appendingPathComponent(target.kind == "testTarget" ? "Tests" : "Sources")
                .appendingPathComponent(name)
            let undeclared = Self.imports(folder).intersection(targets.keys).subtracting(target.dependencies).subtracting([name])
            #expect(undeclared.isEmpty, "\(name) imports \(undeclared.sorted()) without declaring them in Package.swift")
        }
    }

    @Test func theArchitecturePageIsThePackagesGraph() throws {
        let targets = try Self.targets()
        let page = try String(contentsOf: Self.root.appendingPathComponent("docs/architecture.md"), encoding: .utf8)
        var documented: [String: Set<String>] = [:]
        for line in page.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 4 else { continue }
            let name = cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            let named = cells[2].split(separator: "`", omittingEmptySubsequences: false).enumerated()
                .filter { $0.offset % 2 == 1 }.map { String($0.element) }
            documented[name] = Set(named).intersection(targets.keys)
        }
        let built = targets.filter { $0.value.kind != "testTarget" }
        #expect(Set(documented.keys) == Set(built.keys), """
            docs/architecture.md lists \(Set(documented.keys).subtracting(built.keys).sorted()) that Package.swift \
            does not have, and misses \(Set(built.keys).subtracting(documented.keys).sorted())
            """)
        for (name, target) in built {
            let real = target.dependencies.intersection(targets.keys)
            #expect(documented[name] == nil || documented[name] == real,
                    "docs/architecture.md: \(name) depends on \(real.sorted()), not \((documented[name] ?? []).sorted())")
        }
    }
}
