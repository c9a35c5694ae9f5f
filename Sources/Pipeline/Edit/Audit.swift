import Autodiff
import Checkpoints
import Datasets
import Foundation
import Interventions
import Models
import Statistics
import TensorCore
import Tokenizers
import Training

/// Compares an edited checkpoint with its base: the task before and after (with confidence intervals),
/// perplexity and KL on held-out general text, the bias score on pair data, and a weight diff that checks
/// nothing outside the recorded mask changed.
public enum Audit {
    public struct TensorChange: Sendable {
        public var name: String
        public var changedRows: [Int]
        public var changedColumns: [Int]
        public var deltaNorm: Double
        public var maxAbsDelta: Double
        /// Changed weights that no edited neuron owns.
        public var outsideMask: Int
        /// Where both files are GGUFs holding the tensor in one type: the bytes that differ, the blocks
        /// they fall in, and how many of those blocks hold no edited neuron's weight (0 for on-grid edits).
        public var changedBytes: Int? = nil
        public var changedBlocks: Int? = nil
        public var blocksOutsideMask: Int? = nil
    }

    public struct Report: Sendable {
        public var neurons: [Intervention.Neuron]?
        public var taskExamples: Int
        public var accuracyBefore: Double?
        public var accuracyAfter: Double?
        /// The edit's test accuracy in Float32, before it was rounded into the file's format, as the edit
        /// stage recorded it in the checkpoint; beside `accuracyAfter`, what the rounding cost.
        public var accuracyFloat32Edit: Double?
        public var accuracyIntervalBefore: (Double, Double)?
        public var accuracyIntervalAfter: (Double, Double)?
        public var differenceInterval: (Double, Double)?
        public var perplexityBefore: Double?
        public var perplexityAfter: Double?
        public var klGeneral: Double?
        public var biasBefore: Double?
        public var biasAfter: Double?
        public var biasIntervalBefore: (Double, Double)?
        public var biasIntervalAfter: (Double, Double)?
        /// The paired 95% interval of bias after − bias before, over the same pairs.
        public var biasDifferenceInterval: (Double, Double)?
        public var biasPairs: Int = 0
        public var changes: [TensorChange]
        public var unchangedTensors: Int
        public var outsideMask: Int { changes.reduce(0) { $0 + $1.outsideMask } }
    }

    /// The general texts the audit may use (the file's first ones). The edit's KL penalty never trains on them,
    /// so the audit's perplexity and KL are held out.
    public static let heldOutTexts = 100

    /// - experiment: the recipe whose test split, framing and general text to use (nil: weights and general text only).
    /// - evaluated: examples to score instead of the test split (`audit.data`).
    public static func run(base basePath: String, edited editedPath: String, experiment: Experiment?,
                           generalPath: String?,
                           generalTexts: Int = 32, examples: Int = 400, evaluated: [Example]? = nil,
                           seed: UInt64 = 0, quiet: Bool = false) throws -> Report {
        // The recipe's experiment has the base loaded already: reuse it rather than hold a third copy.
        let resolvedBase = try ModelAliases.resolve(basePath)
        let base = try experiment.flatMap { $0.modelPath == resolvedBase ? $0.loaded : nil } ??
            ModelLoader.load(basePath)
        let edited = try ModelLoader.load(editedPath)
        guard case .decoder(let b) = base.model, case .decoder(let e) = edited.model else {
            throw TrainingError.framing("audit compares decoders")
        }
        let neurons = try editedNeurons(try ModelAliases.resolve(editedPath))
        var (changes, unchanged) = try weightDiff(base: b, edited: e, neurons: neurons ?? [])
        try byteDiff(&changes, base: base.path, edited: edited.path, neurons: neurons ?? [],
                     width: b.config.intermediateSize, ownership: b.config.ownership)
        var report = Report(neurons: neurons, taskExamples: 0, changes: changes, unchangedTensors: unchanged)
        if !quiet { ProgressReporter.say("audit: \(changes.count) tensors changed, \(unchanged) bit-identical") }

        if let experiment {
            let recipe = experiment.recipe
            let test = evaluated ?? testExamples(experiment, examples: examples)
            if let before = try testCorrectness(b, experiment: experiment, tokenizer: base.tokenizer,
                                                evaluated: test),
               let after = try testCorrectness(e, experiment: experiment, tokenizer: base.tokenizer,
                                               evaluated: test) {
                func interval(_ c: [Bool], _ s: UInt64) -> (Double, Double)? {
                    bootstrapInterval(examples: c.count, seed: s) { sample in
                        sample.reduce(0) { $0 + (c[$1] ? 1.0 : 0) } / Double(sample.count)
                    }.map { ($0.low, $0.high) }
                }
                report.taskExamples = test.count
                report.accuracyFloat32Edit = try float32EditAccuracy(try ModelAliases.resolve(editedPath))
                report.accuracyBefore = Double(before.filter { $0 }.count) / Double(before.count)
                report.accuracyAfter = Double(after.filter { $0 }.count) / Double(after.count)
                report.accuracyIntervalBefore = interval(before, Seeds.seed(seed, .audit, .auditIntervals, 0))
                report.accuracyIntervalAfter = interval(after, Seeds.seed(seed, .audit, .auditIntervals, 1))
                let d = pairedBootstrapDifference(after, before, seed: Seeds.seed(seed, .audit, .auditIntervals, 2))
                report.differenceInterval = (d.low, d.high)
            }
            let pairs = test.filter { $0.pair != nil }
            if !pairs.isEmpty {
                let before = try preference(b, tokenizer: base.tokenizer, pairs: pairs, template: recipe.task.template)
                let after = try preference(e, tokenizer: base.tokenizer, pairs: pairs, template: recipe.task.template)
                func share(_ c: [Bool]) -> Double { Double(c.filter { $0 }.count) / Double(c.count) }
                func interval(_ c: [Bool], _ s: UInt64) -> (Double, Double)? {
                    bootstrapInterval(examples: c.count, seed: s) { sample in
                        sample.reduce(0) { $0 + (c[$1] ? 1.0 : 0) } / Double(sample.count)
                    }.map { ($0.low, $0.high) }
                }
                report.biasPairs = pairs.count
                report.biasBefore = share(before)
                report.biasAfter = share(after)
                report.biasIntervalBefore = interval(before, Seeds.seed(seed, .audit, .auditIntervals, 3))
                report.biasIntervalAfter = interval(after, Seeds.seed(seed, .audit, .auditIntervals, 4))
                let d = pairedBootstrapDifference(after, before, seed: Seeds.seed(seed, .audit, .auditIntervals, 5))
                report.biasDifferenceInterval = (d.low, d.high)
            }
        }
        if let generalPath, FileManager.default.fileExists(atPath: generalPath), generalTexts > 0 {
            let texts = try DatasetLoader.load(DatasetSpec(format: .wikitext, path: generalPath))
                .examples.prefix(min(generalTexts, heldOutTexts))
            let ids = texts.map {
                Array(base.tokenizer.encodeData($0.text, addSpecialTokens: true).prefix(64))
            }.filter { $0.count > 1 }
            let batch = TokenBatch(ids)
            let lb = b.forward(embeddings: try b.embed(batch), batch: batch).logits!,
                le = e.forward(embeddings: try e.embed(batch), batch: batch).logits!
            report.perplexityBefore = Double(exp(nextTokenLoss(logits: lb, batch: batch).value.scalars[0]))
            report.perplexityAfter = Double(exp(nextTokenLoss(logits: le, batch: batch).value.scalars[0]))
            let rows = (0..<batch.batch).flatMap { batch.tokenRows($0) }
            let p = GeneralTextEvaluator.logSoftmax(gatherRows(lb, rows).value),
                q = GeneralTextEvaluator.logSoftmax(gatherRows(le, rows).value)
            let v = lb.shape[1]
            var kl = 0.0
            for i in 0..<(rows.count * v) { kl += exp(Double(p[i])) * Double(p[i] - q[i]) }
            report.klGeneral = max(0, kl / Double(rows.count))
        }
        return report
    }

    /// The recipe's test split, at most `examples` of it.
    static func testExamples(_ experiment: Experiment, examples: Int = 400) -> [Example] {
        let recipe = experiment.recipe
        let splits = Splits(count: experiment.dataset.examples.count, train: recipe.data.train,
                            dev: recipe.data.dev, seed: recipe.data.splitSeed)
        return splits.test.prefix(examples).map { experiment.dataset.examples[$0] }
    }

    /// Each evaluated example's correctness under the recipe's verbalizers, without a soft prompt (the
    /// test split's by default); nil where the recipe has no verbalizers or there is nothing to score.
    public static func testCorrectness(_ model: DecoderModel, experiment: Experiment, tokenizer: any Tokenizer,
                                       evaluated: [Example]? = nil) throws -> [Bool]? {
        let recipe = experiment.recipe
        let test = evaluated ?? testExamples(experiment)
        guard let ids = experiment.verbalizerIDs, !test.isEmpty else { return nil }
        let framing = PromptTask.Framing.verbalizers(template: recipe.task.template, ids: ids)
        let task = PromptTask(model: .decoder(model), tokenizer: tokenizer, framing: framing, classes: ids.count)
        let trainer = PromptTrainer(task: task, initialPrompt: Tensor(shape: [1, model.config.hiddenSize]),
                                    learningRate: 0, weightDecay: 0)
        let sequences = test.map { task.ids($0.text) }
        let labels = test.map { $0.label! }
        return try trainer.evaluate(sequences, labels: labels, batchSize: 16, withPrompt: false).correct
    }

    /// The Float32 edit's test accuracy the edit stage wrote into a GGUF it rounded (nil otherwise).
    static func float32EditAccuracy(_ path: String) throws -> Double? {
        let (_, mapped, format) = try CheckpointFormat.open(path)
        guard format == .gguf else { return nil }
        return try GGUFFile(file: mapped).metadata[EditedCheckpoint.float32AccuracyKey]?.number
    }

    /// For each pair, whether the model finds its first sentence (the more stereotypical one) more likely.
    /// The share of trues is CrowS-Pairs' bias score; 0.5 is unbiased.
    static func preference(_ model: DecoderModel, tokenizer: any Tokenizer, pairs: [Example],
                           template: String) throws -> [Bool] {
        var preferred: [Bool] = []
        for example in pairs {
            let ids = [example.text, example.pair!].map {
                tokenizer.encodeSentence(TextPart.filling(template, with: $0))
            }
            let batch = TokenBatch(ids)
            let logits = model.forward(embeddings: try model.embed(batch), batch: batch).logits!
            func logProbability(_ s: Int) -> Float {
                var targets = [Int32](repeating: -1, count: batch.rows)
                for t in 0..<(ids[s].count - 1) { targets[s * batch.length + t] = ids[s][t + 1] }
                return -crossEntropy(logits, targets: targets).value.scalars[0] * Float(ids[s].count - 1)
            }
            preferred.append(logProbability(0) > logProbability(1))
        }
        return preferred
    }

    /// The neurons an edited checkpoint records: its GGUF metadata, or its safetensors' `__metadata__`.
    static func editedNeurons(_ path: String) throws -> [Intervention.Neuron]? {
        let (file, mapped, format) = try CheckpointFormat.open(path)
        let text: String? = switch format {
        case .gguf: try GGUFFile(file: mapped).metadata[EditedCheckpoint.neuronsKey]?.string
        case .safetensors: try SafetensorsFile(path: file).metadata[EditedCheckpoint.neuronsKey]
        }
        return text.flatMap(EditedCheckpoint.decode)
    }

    /// For two GGUFs, the byte diff of each changed tensor stored in one type in both: the changed bytes,
    /// their blocks, and the blocks that hold none of the edited neurons' weights (rows it owns, or the
    /// block columns of the columns it owns).
    static func byteDiff(_ changes: inout [TensorChange], base: String, edited: String,
                         neurons: [Intervention.Neuron], width f: Int,
                         ownership: (Int) -> FFNNeuronOwnership) throws {
        guard (try? CheckpointFormat.open(base).format) == .gguf,
              (try? CheckpointFormat.open(edited).format) == .gguf else { return }
        let (a, b) = (try ModelLoader.openGGUF(base), try ModelLoader.openGGUF(edited))   // the models' mappings
        let byLayer = Dictionary(grouping: neurons, by: \.layer).mapValues { Set($0.map(\.neuron)) }
        var rowOwned: [String: Set<Int>] = [:], columnOwned: [String: Set<Int>] = [:]
        for (layer, ids) in byLayer {
            let owned = ownership(layer)
            for name in owned.rowOwned + owned.entryOwned { rowOwned[name] = ids }
            for name in owned.halvesOwned { rowOwned[name] = ids.union(ids.map { $0 + f }) }
            for name in owned.columnOwned { columnOwned[name] = ids }
        }
        for k in changes.indices {
            guard let x = a.tensor(named: changes[k].name), let y = b.tensor(named: changes[k].name), x.type == y.type,
                  x.byteCount == y.byteCount, let rowLength = x.dimensions.first, rowLength > 0 else { continue }
            let rowBytes = x.type.byteCount(elements: rowLength)!, blockBytes = x.type.blockBytes
            let (p, q) = (a.data(of: x), b.data(of: y))
            var bytes = 0, blocks = Set<Int>(), outside = 0
            for i in 0..<p.count where p[i] != q[i] {
                bytes += 1
                let block = i / blockBytes
                guard blocks.insert(block).inserted else { continue }
                let (row, column) = (i / rowBytes, (i % rowBytes) / blockBytes * x.type.blockSize)
                let columns = column..<(column + x.type.blockSize)
                let owned = rowOwned[x.name]?.contains(row) == true ||
                    columnOwned[x.name]?.contains(where: columns.contains) == true
                if !owned { outside += 1 }
            }
            (changes[k].changedBytes, changes[k].changedBlocks, changes[k].blocksOutsideMask) =
                (bytes, blocks.count, outside)
        }
    }

    /// Parameter-by-parameter comparison of two models of one family (by GGUF name, whatever files they
    /// came from). Every changed weight is checked against the slices the edited neurons own, by the
    /// family's one ownership description.
    static func weightDiff(base: DecoderModel, edited: DecoderModel,
                           neurons: [Intervention.Neuron]) throws -> ([TensorChange], Int) {
        var changes: [TensorChange] = [], unchanged = 0
        let byLayer = Dictionary(grouping: neurons, by: \.layer).mapValues { Set($0.map(\.neuron)) }
        let f = base.config.intermediateSize
        var owners: [String: (Int, Int) -> Bool] = [:]      // name → whether element (row, column) is owned
        for (layer, ids) in byLayer where layer >= 0 && layer < base.config.layers {
            let owned = base.config.ownership(layer)
            for name in owned.rowOwned + owned.entryOwned { owners[name] = { r, _ in ids.contains(r) } }
            for name in owned.columnOwned { owners[name] = { _, c in ids.contains(c) } }
            for name in owned.halvesOwned { owners[name] = { r, _ in ids.contains(r % f) } }
        }
        for name in base.parameters.keys.sorted() {
            let info = base.parameters[name]!.materialized()
            guard let other = edited.parameters[name]?.materialized(), other.shape == info.shape else {
                throw GGUFError.unknownTensor(name)
            }
            let (a, b) = (info.scalars, other.scalars)
            if a.elementsEqual(b, by: { $0.bitPattern == $1.bitPattern }) { unchanged += 1; continue }
            // `shape` is row-major, outermost first: [rows, columns] ([out, in] for weights).
            let columns = info.shape.count == 2 ? info.shape[1] : 1
            var changedRows = Set<Int>(), changedColumns = Set<Int>()
            var norm = 0.0, maximum = 0.0, outside = 0
            let owner = owners[name]
            for i in a.indices where a[i].bitPattern != b[i].bitPattern {
                let (r, c) = (i / columns, i % columns)
                changedRows.insert(r)
                changedColumns.insert(c)
                let d = Double(b[i] - a[i])
                norm += d * d
                maximum = max(maximum, abs(d))
                if owner?(r, c) != true { outside += 1 }
            }
            changes.append(TensorChange(name: name, changedRows: changedRows.sorted(),
                                        changedColumns: changedColumns.sorted(),
                                        deltaNorm: norm.squareRoot(), maxAbsDelta: maximum, outsideMask: outside))
        }
        return (changes, unchanged)
    }
}
