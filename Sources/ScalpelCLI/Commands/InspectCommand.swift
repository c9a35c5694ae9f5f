import ArgumentParser
import Foundation
import Scalpel

/// `scalpel inspect PATH|ALIAS [--json]`: format, architecture, metadata, tensors and parameter count.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Describe a GGUF or safetensors checkpoint.",
        discussion: "MODEL is a path, or one of the aliases smollm2, minilm, gemma3 (fetched by Scripts/fetch)."
    )

    @Argument(help: "Checkpoint path or alias.") var model: String
    @Flag(help: "Print the summary as JSON.") var json = false
    @Option(parsing: .unconditional, help: "Tensors to list in text mode (all with --json).") var tensors = 40

    func validate() throws { try Bounds.atLeast(0).check("tensors", tensors) }

    func run() throws {
        let summary = try CheckpointSummary.load(path: ModelAliases.resolve(model))
        if json {
            print(jsonText(summary))
            return
        }
        print("\(summary.path)")
        print("format        \(summary.format)")
        print("architecture  \(summary.architecture ?? "unknown")")
        print("parameters    \(summary.parameters) (\(String(format: "%.1f", Double(summary.parameters) / 1e6)) M)")
        print("tensors       \(summary.tensors.count)")
        print("\nmetadata (\(summary.metadata.count) keys)")
        for (key, value) in summary.metadata { print("  \(key) = \(text(value))") }
        print("\ntensors")
        let width = min(48, summary.tensors.map { $0.name.count }.max() ?? 0)
        for row in summary.tensors.prefix(tensors) {
            let name = row.name.padding(toLength: width, withPad: " ", startingAt: 0)
            let type = row.type.padding(toLength: 5, withPad: " ", startingAt: 0)
            let shape = "\(row.shape)".padding(toLength: 16, withPad: " ", startingAt: 0)
            print("  \(name)  \(type)  \(shape)  \(row.bytes) B")
        }
        if summary.tensors.count > tensors {
            print("  … \(summary.tensors.count - tensors) more (--tensors N, or --json for all)")
        }
    }

    private func text(_ value: CheckpointSummary.MetadataValue) -> String {
        switch value {
        case .scalar(let raw, _):
            let s = raw.replacingOccurrences(of: "\n", with: "\\n")
            return s.count > 120 ? String(s.prefix(117)) + "…" : s
        case .array(let type, let count, let head):
            let items = head.map(text).joined(separator: ", ")
            return count > head.count ? "[\(count) × \(type): \(items), …]" : "[\(items)]"
        }
    }

    /// Built by hand so that metadata keeps the file's order and integers stay exact.
    private func jsonText(_ s: CheckpointSummary) -> String {
        func value(_ v: CheckpointSummary.MetadataValue) -> String {
            switch v {
            case .scalar(_, let json): return json
            case .array(let type, let count, let head):
                let items = "[" + head.map(value).joined(separator: ", ") + "]"
                return count > head.count
                    ? "{\"type\": \"array\", \"element_type\": \"\(type)\", \"count\": \(count), \"head\": \(items)}"
                    : items
            }
        }
        let metadata = s.metadata.map { "    \(quoted($0.key)): \(value($0.value))" }.joined(separator: ",\n")
        let tensors = s.tensors.map {
            "    {\"name\": \(quoted($0.name)), \"type\": \"\($0.type)\", " +
                "\"shape\": \($0.shape), \"bytes\": \($0.bytes)}"
        }
            .joined(separator: ",\n")
        return """
        {
          "path": \(quoted(s.path)),
          "format": "\(s.format)",
          "architecture": \(s.architecture.map(quoted) ?? "null"),
          "parameters": \(s.parameters),
          "metadata": {
        \(metadata)
          },
          "tensors": [
        \(tensors)
          ]
        }
        """
    }

    private func quoted(_ text: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])
        return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
    }
}
