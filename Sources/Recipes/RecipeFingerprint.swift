import Foundation
@preconcurrency import Yams

// ----------------------------------------------------------------------------------------------------
// What a stage's recorded inputs say about the recipe: a canonical text of the sections it reads.
//
// It must be the same in every process for the same meaning, or a finished stage is never reused.
// Swift's default description of a parsed YAML node is not: it names a private Yams type by its load
// address, and it carries line numbers. A dictionary's description follows the process's hash seed.
// So sections are written out here by hand: mapping keys sorted, scalars as written, no positions.

extension Recipe {
    /// The canonical text of the section at `path` (for example "collect"), or "" when it is absent.
    /// Moving keys, reformatting, or adding comments leaves it unchanged.
    public func canonical(_ path: String) -> String {
        node(path).map(Self.canonical) ?? ""
    }

    /// The canonical text of the top-level fields every stage depends on: the model, the seed, the data
    /// and the task as read (with the schema's defaults), for the input hashes of stage records.
    public var canonicalBasis: String {
        let labels = data.labels.map { $0.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") } ?? "-"
        let dataPart = [data.loader, data.path, data.text ?? "-", data.label ?? "-", labels, data.limit.map(String.init) ?? "-",
                        "\(data.skipIncomplete)", "\(data.train)", "\(data.dev)", "\(data.test)", "\(data.splitSeed)"].joined(separator: "|")
        let taskPart = [task.template, task.verbalizers.map { $0.joined(separator: "\u{1F}") } ?? "-", task.head ?? "-",
                        task.answer ?? "-", "\(task.answerTokens)"].joined(separator: "|")
        return "model=\(model)\nseed=\(seed)\ndata=\(dataPart)\ntask=\(taskPart)"
    }

    /// The canonical text of the prompt section as read (with the schema's defaults).
    public var canonicalPrompt: String {
        [String(prompt.length), prompt.initialisation, prompt.initWords?.joined(separator: "\u{1F}") ?? "-", prompt.optimizer,
         "\(prompt.learningRate)", "\(prompt.weightDecay)", "\(prompt.epochs)", "\(prompt.batchSize)", "\(prompt.patience)",
         prompt.maxTrainExamples.map(String.init) ?? "-"].joined(separator: "|")
    }

    static func canonical(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): return quoted(scalar.string)
        case .sequence(let sequence): return "[" + sequence.map(canonical).joined(separator: ", ") + "]"
        case .mapping(let mapping):
            let pairs = mapping.map { (canonical($0.key), canonical($0.value)) }.sorted { $0.0 < $1.0 }
            return "{" + pairs.map { "\($0.0): \($0.1)" }.joined(separator: ", ") + "}"
        }
    }

    /// Quoted so that the string "a, b" and the list [a, b] never print alike.
    private static func quoted(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
