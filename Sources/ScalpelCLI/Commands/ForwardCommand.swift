import ArgumentParser
import Foundation
import Scalpel

/// `scalpel forward --model M (--text T | --ids 12,7,301) [--top K] [--json]`: logits, per-position argmax
/// and loss. `--ids` runs given token ids exactly as `--text` runs a text's, for checking a model against
/// another implementation without its tokenizer in the way.
struct ForwardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Run a language model over a text: per-position predictions and the mean next-token loss.")

    @Option(help: "Checkpoint path or alias.") var model: String
    @Option(parsing: .unconditional, help: "The text (may start with a dash).") var text: String?
    @Option(parsing: .unconditional, help: "Token ids, comma-separated (e.g. 12,7,301), instead of a text.")
    var ids: String?
    @Option(parsing: .unconditional, help: "Top predictions to show per position.") var top = 5
    @Option(help: "Also write every logit to this file: raw little-endian float32, [tokens, vocabulary], row-major.")
    var saveLogits: String?
    @Flag(help: "Print JSON: {ids, loss, positions: [{argmax, logsumexp, top: [[id, logit]]}]}.") var json = false

    func validate() throws {
        try Bounds.atLeast(0, atMost: .value(1000)).check("top", top)
        if (text == nil) == (ids == nil) { throw ValidationError("give exactly one of --text and --ids") }
        if let ids { _ = try Self.parseIDs(ids) }
    }

    /// "12,7,301" → [12, 7, 301]; anything else says which entry is wrong.
    static func parseIDs(_ text: String) throws -> [Int32] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard !parts.isEmpty, parts != [""] else {
            throw ValidationError("--ids is empty; give token ids such as 12,7,301")
        }
        return try parts.enumerated().map { i, part in
            guard let id = Int32(part), id >= 0 else {
                throw ValidationError("--ids entry \(i + 1) is '\(part)', not a token id (a whole number from 0); " +
                                      "write them as 12,7,301")
            }
            return id
        }
    }

    func run() throws {
        let loaded = try ModelLoader.load(model)
        guard case .decoder(let llama) = loaded.model else {
            throw ValidationError("\(model) is an encoder (\(loaded.architecture)); " +
                                  "use `scalpel embed` for sentence embeddings")
        }
        let ids = try self.ids.map(Self.parseIDs) ?? loaded.tokenizer.encodeData(text ?? "", addSpecialTokens: true)
        guard !ids.isEmpty else { throw ValidationError("the text has no tokens") }
        if let bad = ids.first(where: { Int($0) >= llama.config.vocabularySize }) {
            throw ValidationError("token id \(bad) is outside \(model)'s vocabulary of " +
                                  "\(llama.config.vocabularySize) (ids 0–\(llama.config.vocabularySize - 1))")
        }
        let batch = TokenBatch([ids])
        let logits = llama.forward(embeddings: try llama.embed(batch), batch: batch).logits!
        if let bad = logits.value.scalars.firstIndex(where: { !$0.isFinite }) {
            throw ModelError.nonFiniteLogits(position: bad / llama.config.vocabularySize)
        }
        if let saveLogits {
            let data = logits.value.scalars.withUnsafeBufferPointer { Data(buffer: $0) }     // little-endian hosts only
            try AtomicFile.write(data, to: URL(fileURLWithPath: saveLogits))
        }
        let loss = ids.count > 1 ? Double(nextTokenLoss(logits: logits, batch: batch).value.scalars[0]) : Double.nan
        let v = llama.config.vocabularySize
        var positions: [[String: Any]] = []
        for t in 0..<ids.count {
            let row = Array(logits.value.scalars[(t * v)..<((t + 1) * v)])
            let maximum = row.max()!
            let lse = Double(maximum) + log(row.reduce(0.0) { $0 + exp(Double($1 - maximum)) })
            let best = row.indices.sorted { row[$0] > row[$1] }.prefix(top)
            positions.append(["argmax": row.indices.max { row[$0] < row[$1] }!, "logsumexp": lse,
                              "top": best.map { [$0, Double(row[$0])] as [Any] }])
        }
        if json {
            Output.printJSON(["ids": ids.map(Int.init), "loss": loss.isNaN ? NSNull() : loss as Any,
                              "positions": positions])
            return
        }
        print("\(ids.count) tokens, mean next-token loss \(loss.isNaN ? "n/a" : String(format: "%.4f", loss))")
        for (t, id) in ids.enumerated() {
            let next = (positions[t]["top"] as! [[Any]]).map {
                """
                \(loaded.tokenizer.decode([Int32($0[0] as! Int)]).debugDescription) \
                \(String(format: "%.2f", $0[1] as! Double))
                """
            }
            print(String(format: "%4d  %-16@ → ", t, loaded.tokenizer.decode([id]).debugDescription as NSString) +
                  next.joined(separator: ", "))
        }
    }
}

/// `scalpel embed --model minilm --text T [--json]`: a mean-pooled, L2-normalised sentence embedding.
struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Sentence embedding from an encoder (MiniLM)."
    )

    @Option(help: "Checkpoint path or alias.") var model: String
    @Option(parsing: .unconditional, help: "The text (may start with a dash).") var text: String
    @Flag(help: "Print JSON: {ids, embedding}.") var json = false

    func run() throws {
        let loaded = try ModelLoader.load(model)
        guard case .bert(let bert) = loaded.model else {
            throw ValidationError("\(model) is a decoder (\(loaded.architecture)); " +
                                  "sentence embeddings need an encoder such as minilm")
        }
        let ids = loaded.tokenizer.encode(text, addSpecialTokens: true)
        let batch = TokenBatch([ids])
        let embedding = bert.sentenceEmbeddings(hidden: bert.forward(embeddings: try bert.embed(batch), batch: batch),
                                                batch: batch).value.scalars
        if json {
            Output.printJSON(["ids": ids.map(Int.init), "embedding": embedding.map(Double.init)])
        } else {
            print("\(ids.count) tokens → \(embedding.count)-dimensional embedding")
            print(embedding.map { String(format: "%.4f", $0) }.joined(separator: " "))
        }
    }
}
