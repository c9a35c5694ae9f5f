import ActivationStores
import AtomicFiles
import Autodiff
import Datasets
import Foundation
import HDF5Kit
import AuxiliaryMetrics
import Models
import Recipes
import Statistics
import TensorCore
import Tokenizers
import Training

/// Stages 2–3: run the model (with the tuned soft prompt, if the recipe tunes one) over the training and
/// dev examples, record the FFN site of the chosen layers at the chosen positions, compute the auxiliary
/// metrics, and stream both into the activation store and the training rows' co-moments.
///
/// `shard: (i, N)` collects the i-th of N contiguous slices of the training and of the dev examples into
/// `collect/shard-i-of-N.h5`; `ShardMerge` joins them into the store a single run writes.
public struct CollectStage: Stage {
    public static let name = StageName.collect
    public static let dependencies: [StageName] = [.prompt]

    public struct Result: Sendable {
        public var store: String
        public var trainRows: Int
        public var devRows: Int
        public var columns: Int
        public var positions: [String]
        public var metrics: [String]
        public var tokensPerSecond: Double
        public var reused: Bool
    }

    public let place: StagePlace
    public init(_ place: StagePlace) { self.place = place }

    var usesPrompt: Bool { experiment.recipe.stages.contains("prompt") }

    public func plan() throws -> CollectionPlan {
        let plan = try CollectionPlan.from(experiment.recipe, file: experiment.recipeFile,
                                           modelLayers: experiment.loaded.model.layers, usesPrompt: usesPrompt,
                                           languageModelling: experiment.isLanguageModelling,
                                           answerTask: experiment.isAnswerTask)
        if plan.metrics.contains(.pairPreference) && !experiment.dataset.examples.contains(where: { $0.pair != nil }) {
            throw RecipeErrors(file: experiment.recipeFile, issues: [RecipeIssue(
                path: "collect.metrics",
                line: experiment.recipe.node("collect.metrics")?.mark?.line ??
                    experiment.recipe.node("collect")?.mark?.line,
                message: "pair_preference needs a pair dataset (crows_pairs, stereoset, winobias); " +
                    "\(experiment.recipe.data.loader) has no pairs")])
        }
        if let problem = experiment.precisionProblem(plan.precision, path: "collect.precision") {
            throw RecipeErrors(file: experiment.recipeFile, issues: [problem])
        }
        return plan
    }

    public typealias Options = CollectionPlan
    public func options() throws -> CollectionPlan { try plan() }

    /// What the store depends on besides its plan: model, data, task, and the prompt.
    public func dependencyInputs(_ options: Options) throws -> [String: String] {
        var inputs = [
            "model": try SHA256.checkpoint(experiment.modelPath),
            "data": try experiment.dataSHA256(),
            "basis": SHA256.hex(experiment.recipe.canonicalBasis),
        ]
        if usesPrompt {
            inputs["prompt"] = try SHA256.file(folder.promptFile.path)
        }
        return inputs
    }

    /// The examples an unsharded run collects (for tests that need to name one).
    public func examplesForTesting() -> (train: [Int], dev: [Int]) { examples(shard: nil) }

    /// The training and dev rows this run (or shard) collects, as dataset indices.
    func examples(shard: (Int, Int)?) -> (train: [Int], dev: [Int]) {
        let recipe = experiment.recipe
        let splits = Splits(count: experiment.dataset.examples.count, train: recipe.data.train,
                            dev: recipe.data.dev, seed: recipe.data.splitSeed)
        var train = splits.train
        if let cap = try? plan().maxExamples { train = Array(train.prefix(cap)) }
        var dev = splits.dev
        if let shard {
            let batch = (try? plan().batchSize) ?? 8
            train = Self.slice(train, shard: shard, batch: batch)
            dev = Self.slice(dev, shard: shard, batch: batch)
        }
        return (train, dev)
    }

    /// Shard i of N of a split: the i-th of N contiguous runs of its batches, so that every batch a
    /// shard collects is one a single run collects, with the same examples.
    ///
    ///     batches = ⌈rows / batch⌉   shard i ← batches ⌊i·batches/N⌋ ..< ⌊(i+1)·batches/N⌋
    public static func slice(_ rows: [Int], shard: (Int, Int), batch: Int) -> [Int] {
        let (i, n) = shard, batches = (rows.count + batch - 1) / batch
        let first = i * batches / n * batch, last = min(rows.count, (i + 1) * batches / n * batch)
        return first < last ? Array(rows[first..<last]) : []
    }

    public func storeURL(shard: (Int, Int)?) throws -> URL {
        let stage = try folder.stage("collect")
        if let (i, n) = shard { return stage.appendingPathComponent("shard-\(i)-of-\(n).h5") }
        return stage.appendingPathComponent("activations.h5")
    }

    /// The collection as its `/collect` group describes it: its rows, columns, positions and metrics, and the
    /// store, found in the run folder as it is now (the group names where it was written).
    public func read(_ record: RunFolder.StageRecord, reused: Bool) throws -> Result {
        let url = EvidenceArchive.url(folder)
        let archive = try EvidenceArchive.open(url)   // kept open while its group is read
        let group = try archive.root.group("collect")
        guard case .int(let train) = try group.attribute("train_rows"),
              case .int(let dev) = try group.attribute("dev_rows"),
              case .ints(let layers) = try group.attribute("layers"),
              case .int(let width) = try group.attribute("neurons_per_layer"),
              case .strings(let positions) = try group.attribute("positions"),
              case .strings(let metrics) = try group.attribute("metrics") else {
            throw CollectError.corruptStore(path: url.path, detail: "/collect is incomplete")
        }
        // The rate is a timing, kept in /provenance (in /collect in archives before it moved).
        let provenance = try archive.root.group("provenance")
        var rate = 0.0
        if case .double(let r)? = try? provenance.attribute("collect_tokens_per_second") { rate = r }
        else if case .double(let r)? = try? group.attribute("tokens_per_second") { rate = r }
        return Result(store: try storeURL(shard: nil).path, trainRows: Int(train), devRows: Int(dev),
                      columns: layers.count * Int(width), positions: positions, metrics: metrics,
                      tokensPerSecond: rate, reused: reused)
    }

    /// The record's figures: the rows, the columns and the collection's rate.
    public func headline(_ result: Result) -> [String: Figure] {
        ["train_rows": .number(Double(result.trainRows)), "dev_rows": .number(Double(result.devRows)),
         "columns": .number(Double(result.columns)), "tokens_per_second": .number(result.tokensPerSecond)]
    }

    /// One slice of a sharded collection, into its own shard file; `merge` finishes the stage.
    /// Without a shard, the whole stage (reused when up to date).
    public func run(shard: (Int, Int)?, force: Bool = false, quiet: Bool = false) throws -> Result {
        guard let shard else { return try run(force: force, quiet: quiet) }
        let options = try options()
        return try Shards.run(in: try folder.stage("collect"), shard: shard) {
            try collect(StageRun(options: options, inputs: try inputs(options), quiet: quiet), shard: shard)
        }
    }

    public func compute(_ run: StageRun<CollectionPlan>) throws -> StageOutcome {
        let result = try collect(run, shard: nil)
        return try outcome(tokensPerSecond: result.tokensPerSecond, store: URL(fileURLWithPath: result.store))
    }

    /// Collects the run's examples (or a shard's) into the store, in the plan's precision; a whole run's
    /// store is then published.
    func collect(_ run: StageRun<CollectionPlan>, shard: (Int, Int)?) throws -> Result {
        try Precision.$current.withValue(run.options.precision) { try collectInPrecision(run, shard: shard) }
    }

    private func collectInPrecision(_ run: StageRun<CollectionPlan>, shard: (Int, Int)?) throws -> Result {
        let plan = run.options, inputs = run.inputs
        let (train, dev) = examples(shard: shard)
        let metricNames = plan.metrics.flatMap { $0.columnNames(classes: experiment.dataset.classes) }
        let (positionNames, collect) = try collector(plan, rows: train + dev, metricNames: metricNames)
        let header = ActivationStore.Header(layers: plan.layers, neuronsPerLayer: experiment.loaded.model.ffnWidth,
                                            positions: positionNames,
                                            metrics: metricNames,
                                            provenance: ["tool_version": ScalpelBuild.identity,
                                                         "inputs_sha256": RunFolder.StageRecord.digest(inputs),
                                                         "model_sha256": inputs["model"]!,
                                                         "data_sha256": inputs["data"]!,
                                                         "recipe_sha256": SHA256.hex(experiment.recipe.text)])
        let url = try storeURL(shard: shard)
        let written = try writeStore(url, header: header, splits: [(0, train), (1, dev)], batchSize: plan.batchSize,
                                     shard: shard, quiet: run.quiet, collect: collect)
        return Result(store: url.path, trainRows: written.train, devRows: written.dev,
                      columns: header.columns, positions: header.positions,
                      metrics: metricNames, tokensPerSecond: written.tokensPerSecond, reused: false)
    }

    /// The positions recorded and the batch collector of the recipe's framing: per token, answers, plain
    /// text, or a classification task (with its trained prompt). Checks the metrics have values first.
    func collector(_ plan: CollectionPlan, rows: [Int],
                   metricNames: [String]) throws -> (positions: [String], collect: ([Int]) throws -> Batch) {
        let classes = experiment.dataset.classes
        if plan.perToken {
            guard case .decoder(let model) = experiment.loaded.model else {
                throw TrainingError.framing("per-token collection (positions: [every]) needs a decoder: " +
                                            "its metric is the log-probability of each next token")
            }
            return (["every"], { try collectTokens($0, model: model, plan: plan) })
        }
        if experiment.isAnswerTask {
            guard case .decoder(let model) = experiment.loaded.model else {
                throw TrainingError.framing("an answer task needs a decoder that generates")
            }
            try checkMetrics(plan.metrics, rows: rows, classes: 0)
            return (plan.positionNames(promptLength: 0), { try collectAnswers($0, model: model, plan: plan) })
        }
        if experiment.isLanguageModelling {
            guard case .decoder(let model) = experiment.loaded.model else {
                throw TrainingError.framing("without verbalizers the model must be a decoder that scores text")
            }
            try checkMetrics(plan.metrics, rows: rows, classes: classes.count)
            return (plan.positionNames(promptLength: 0), { try collectSentences($0, model: model, plan: plan) })
        }
        let (task, prompt) = try PromptStage(experiment: experiment, folder: folder).trained(orUntuned: true)
        if !usesPrompt, case .head = task.framing {
            throw TrainingError.framing("an encoder's classification head must be trained: " +
                                        "add the prompt stage to the recipe")
        }
        try checkMetrics(plan.metrics, rows: rows, classes: classes.count)
        let positionNames = plan.positionNames(promptLength: prompt?.shape[0] ?? 0)
        let header = ActivationStore.Header(layers: plan.layers, neuronsPerLayer: experiment.loaded.model.ffnWidth,
                                            positions: positionNames, metrics: metricNames, provenance: [:])
        return (positionNames, { try collectBatch($0, task: task, prompt: prompt, plan: plan, header: header) })
    }

    /// Streams every split's batches into a new store: activations and metrics appended, the training rows'
    /// co-moments accumulated (the statistics rank reads without a second pass).
    func writeStore(_ url: URL, header: ActivationStore.Header, splits: [(UInt8, [Int])], batchSize: Int,
                    shard: (Int, Int)?, quiet: Bool,
                    collect: ([Int]) throws -> Batch) throws -> (train: Int, dev: Int, tokensPerSecond: Double) {
        var tokens = 0
        var rowCounts = (train: 0, dev: 0)
        let collectionStart = Date()
        try HDF5File.create(at: url) { root in
            let writer = try ActivationStoreWriter(root: root, header: header)
            var moments = header.positions.map { _ in
                CoMoments(columns: header.columns, metrics: header.metrics.count)
            }
            let progress = ProgressReporter("collect", total: splits.reduce(0) { $0 + $1.1.count })
            progress.quiet = quiet
            var done = 0
            for (split, rows) in splits {
                var start = 0
                while start < rows.count {
                    let indices = Array(rows[start..<min(rows.count, start + batchSize)])
                    let batch = try collect(indices)
                    tokens += batch.tokens
                    let count = batch.rowIndices.count
                    if split == 0 {
                        for p in moments.indices {
                            moments[p].add(x: batch.activations[p], y: batch.metrics, rows: count)
                        }
                    }
                    try writer.append(activations: batch.activations, metrics: batch.metrics, indices: batch.rowIndices,
                                      split: split, tokens: batch.rowTokens)
                    start += indices.count
                    if shard != nil && done == 0 { Shards.holdForTesting() }
                    done += indices.count
                    progress.update(done, String(format: "%.0f tok/s",
                                                 Double(tokens) / Date().timeIntervalSince(collectionStart)))
                }
            }
            try writer.finish(moments: moments, shard: shard.map { "\($0.0)/\($0.1)" } ?? "all")
            rowCounts = (writer.trainRows, writer.rows - writer.trainRows)
        }
        return (rowCounts.train, rowCounts.dev, Double(tokens) / Date().timeIntervalSince(collectionStart))
    }

    /// Merges the shards of a sharded collection (all `collect/shard-*-of-N.h5`, or the files given) into
    /// `collect/activations.h5`, then finishes the stage as a single run would.
    public func merge(shards given: [URL]? = nil, quiet: Bool = false) throws -> Result {
        let started = Date()
        let inputs = try inputs(try options())
        let stage = try folder.stage("collect")
        let shards = try given ?? FileManager.default.contentsOfDirectory(atPath: stage.path)
            .filter { $0.hasPrefix("shard-") && $0.hasSuffix(".h5") }.sorted().map { stage.appendingPathComponent($0) }
        let url = try storeURL(shard: nil)
        // Checked before anything is written: a refused merge leaves the run folder as it was.
        try ShardMerge.merge(shards, into: url, quiet: quiet,
                             expecting: ["tool_version": ScalpelBuild.identity,
                                         "inputs_sha256": RunFolder.StageRecord.digest(inputs)])
        return try publish(try outcome(tokensPerSecond: 0, store: url), inputs: inputs, started: started)
    }

    /// What a finished store records: its part of the evidence archive, and the store's hash.
    ///
    /// `/collect` of the archive: attributes `positions`, `layers`, `neurons_per_layer`, `metrics`,
    /// `train_rows`, `dev_rows` and `store` (the activation store's path in the run folder);
    /// `example_index` int64 [rows] and `split` uint8 [rows] (0 train, 1 dev); `metrics` float64 [rows, metrics];
    /// `<position>/mean` and `<position>/std` float64 [layers × neurons], each neuron's training mean and
    /// standard deviation (what mean and noise ablations use).
    func outcome(tokensPerSecond: Double, store url: URL) throws -> StageOutcome {
        let reader = try ActivationStoreReader(url: url)
        let header = reader.header
        let outputs = ["activations.h5": try SHA256.file(url.path)]
        let precision = try plan().precision.rawValue
        return StageOutcome(outputs: outputs, notes: ["precision": precision],
                            timings: ["tokens_per_second": tokensPerSecond]) { group in
            try group.setAttribute("precision", .string(precision))
            try group.setAttribute("positions", .strings(header.positions))
            try group.setAttribute("layers", .ints(header.layers.map(Int64.init)))
            try group.setAttribute("neurons_per_layer", .int(Int64(header.neuronsPerLayer)))
            try group.setAttribute("metrics", .strings(header.metrics))
            try group.setAttribute("train_rows", .int(Int64(reader.trainRows.count)))
            try group.setAttribute("dev_rows", .int(Int64(reader.devRows.count)))
            try group.setAttribute("store", .string("collect/" + url.lastPathComponent))
            try group.write("example_index", reader.indices.map(Int64.init), shape: [reader.rows])
            try group.write("split", reader.splits, shape: [reader.rows])
            try group.write("metrics", reader.metricValues, shape: [reader.rows, header.metrics.count])
            for (p, name) in header.positions.enumerated() {
                let g = try group.createGroup(name)
                try g.write("mean", reader.moments[p].meanX, shape: [header.columns])
                try g.write("std", reader.moments[p].standardDeviationX, shape: [header.columns])
            }
        }
    }

    /// Fails before any forward pass if a metric has no value for some example (a missing or non-numeric
    /// column, too few numbers in the text for an expression).
    func checkMetrics(_ metrics: [Metric], rows: [Int], classes: Int) throws {
        let placeholder = ModelOutcome(prediction: 0, confidence: 0.5, loss: 1, pairPreference: 0,
                                       answer: experiment.isAnswerTask ? 0 : nil,
                                       answerCorrect: experiment.isAnswerTask ? false : nil)
        for metric in metrics {
            var missing: [String] = []
            for i in rows {
                let example = experiment.dataset.examples[i]
                if metric.values(for: example, classes: classes, outcome: placeholder).contains(where: { $0 == nil }) {
                    missing.append("\(example.source) row \(example.row)")
                }
            }
            if !missing.isEmpty {
                throw CollectError.missingMetric(metric: metric.columnNames(classes: experiment.dataset.classes)
                                                     .joined(separator: ", "),
                                                 count: missing.count, examples: missing)
            }
        }
    }

    struct Batch {
        var activations: [[Float]]   // per position, [rows, columns]
        var metrics: [Double]        // [rows, M]
        var rowIndices: [Int]        // each row's example index
        var rowTokens: [Int]?        // each row's token position (per-token rows only)
        var tokens: Int              // tokens run through the model
    }

    /// One forward pass over a batch of examples with the FFN sites hooked.
    func collectBatch(_ indices: [Int], task: PromptTask, prompt: Tensor?, plan: CollectionPlan,
                      header: ActivationStore.Header) throws -> Batch {
        let examples = indices.map { experiment.dataset.examples[$0] }
        let sequences = examples.map { task.ids($0.text) }
        let promptLength = prompt?.shape[0] ?? 0
        let layout = task.batch(sequences, promptLength: promptLength)
        let b = indices.count

        // The rows each position reads, per sequence, into one list of hooked rows.
        var hookedRows: [Int] = []
        var rowIndex: [Int: Int] = [:]
        func hook(_ row: Int) -> Int {
            if let i = rowIndex[row] { return i }
            rowIndex[row] = hookedRows.count
            hookedRows.append(row)
            return hookedRows.count - 1
        }
        // sources[p][s]: the hooked rows averaged for position p of sequence s (one row except for mean).
        var sources: [[[Int]]] = []
        for position in plan.positions {
            switch position {
            case .prompt:
                for j in 0..<promptLength {
                    sources.append((0..<b).map { [hook($0 * layout.length + task.promptOffset(j))] })
                }
            case .last:
                sources.append(layout.lastRows.map { [hook($0)] })
            case .mean:
                sources.append((0..<b).map { s in layout.tokenRows(s).map(hook) })
            case .every:
                preconditionFailure("per-token rows are collected by collectTokens")
            }
        }

        let capture = SiteCapture(layers: plan.layers, rows: hookedRows)
        let logits = try task.logits(sequences, prompt: prompt.map { Variable($0) }, hooks: capture.hooks).value

        let width = header.neuronsPerLayer, columns = header.columns
        var activations: [[Float]] = []
        for (p, perSequence) in sources.enumerated() {
            var matrix = [Float](repeating: 0, count: b * columns)
            for (k, site) in capture.sites.enumerated() {
                let values = site.scalars
                for s in 0..<b {
                    let rows = perSequence[s]
                    let scale = 1 / Float(rows.count)
                    let base = s * columns + k * width
                    for r in rows {
                        for i in 0..<width { matrix[base + i] += values[r * width + i] }
                    }
                    if rows.count > 1 { for i in 0..<width { matrix[base + i] *= scale } }
                }
            }
            if let bad = matrix.firstIndex(where: { !$0.isFinite }) {
                let example = examples[bad / columns], column = bad % columns
                throw CollectError.nanActivation(example: "\(example.source) row \(example.row)",
                                                 layer: plan.layers[column / width],
                                                 neuron: column % width, position: header.positions[p])
            }
            activations.append(matrix)
        }

        // Metrics from the class logits [b, K].
        let k = task.classes
        var metrics: [Double] = []
        for (s, example) in examples.enumerated() {
            let row = (0..<k).map { Double(logits.scalars[s * k + $0]) }
            let maximum = row.max()!
            let total = row.reduce(0) { $0 + exp($1 - maximum) }
            let predicted = row.indices.max { row[$0] < row[$1] }!
            let loss = example.label.map { -(row[$0] - maximum - log(total)) } ?? .nan
            let outcome = ModelOutcome(prediction: predicted, confidence: 1 / total, loss: loss)
            for metric in plan.metrics {
                metrics += metric.values(for: example, classes: experiment.dataset.classes.count, outcome: outcome)
                    .map { $0 ?? .nan }
            }
        }
        return Batch(activations: activations, metrics: metrics, rowIndices: indices,
                     rowTokens: nil, tokens: layout.rows)
    }

    /// Example-level collection without a classification framing (pair datasets): the sites of each
    /// text at `last` and `mean`, and, for `pair_preference`, log p(text) − log p(pair) from one batch that
    /// holds the texts and their pairs.
    func collectSentences(_ indices: [Int], model: DecoderModel, plan: CollectionPlan) throws -> Batch {
        let examples = indices.map { experiment.dataset.examples[$0] }
        let template = experiment.recipe.task.template
        let tokenizer = experiment.loaded.tokenizer
        func ids(_ text: String) -> [Int32] { tokenizer.encodeSentence(TextPart.filling(template, with: text)) }
        let startTokens = tokenizer.sentencePrefixLength
        let b = examples.count
        let wantsPairs = plan.metrics.contains(.pairPreference)
        let sequences = examples.map { ids($0.text) } + (wantsPairs ? examples.map { ids($0.pair ?? "") } : [])
        let layout = TokenBatch(sequences)
        var hookedRows: [Int] = []
        var sources: [[[Int]]] = []
        for position in plan.positions {
            switch position {
            case .last: sources.append((0..<b).map { [layout.lastRows[$0]] })
            // The mean is over the text's tokens: the start token before them is the same in every sentence.
            case .mean: sources.append((0..<b).map { s in Array(layout.tokenRows(s).dropFirst(startTokens)) })
            default: preconditionFailure("collectSentences records last and mean")
            }
        }
        hookedRows = Array(Set(sources.flatMap { $0.flatMap { $0 } })).sorted()
        let rowIndex = Dictionary(uniqueKeysWithValues: hookedRows.enumerated().map { ($1, $0) })
        let capture = SiteCapture(layers: plan.layers, rows: hookedRows)
        let logits = model.forward(embeddings: try model.embed(layout), batch: layout, hooks: capture.hooks,
                                   logitRows: wantsPairs ? nil : []).logits
        let activations = try averagedSites(capture.sites, sources: sources, rowIndex: rowIndex,
                                            examples: examples, plan: plan)
        // Sum of next-token log-probabilities of each sequence.
        var logProbabilities = [Double](repeating: 0, count: sequences.count)
        if let logits {
            let v = logits.shape[1]
            logits.value.withPointer { z in
                for (s, sequence) in sequences.enumerated() where sequence.count > 1 {
                    for t in 0..<(sequence.count - 1) {
                        logProbabilities[s] += logProbability(z + (s * layout.length + t) * v, vocabulary: v,
                                                              target: Int(sequence[t + 1]))
                    }
                }
            }
        }
        var metrics: [Double] = []
        for (s, example) in examples.enumerated() {
            var outcome = ModelOutcome(prediction: 0, confidence: .nan, loss: .nan)
            if wantsPairs { outcome.pairPreference = logProbabilities[s] - logProbabilities[b + s] }
            for metric in plan.metrics {
                metrics += metric.values(for: example, classes: 0, outcome: outcome).map { $0 ?? .nan }
            }
        }
        return Batch(activations: activations, metrics: metrics, rowIndices: indices,
                     rowTokens: nil, tokens: layout.rows)
    }

    /// Each position's [examples, layers × neurons] matrix from the hooked sites: for example s at position p,
    /// the mean of the hooked rows `sources[p][s]` (one row, except for `mean`). A NaN or infinite value is an
    /// error naming the example, the layer, the neuron and the position.
    /// - sites: per recorded layer, [hooked rows, F]; - rowIndex: a batch row → its row in the sites.
    func averagedSites(_ sites: [Tensor], sources: [[[Int]]], rowIndex: [Int: Int], examples: [Example],
                       plan: CollectionPlan) throws -> [[Float]] {
        let b = examples.count, width = experiment.loaded.model.ffnWidth, columns = plan.layers.count * width
        var activations: [[Float]] = []
        for (p, perSequence) in sources.enumerated() {
            var matrix = [Float](repeating: 0, count: b * columns)
            for (k, site) in sites.enumerated() {
                let values = site.scalars
                for s in 0..<b {
                    let rows = perSequence[s].map { rowIndex[$0]! }
                    for r in rows {
                        for i in 0..<width { matrix[s * columns + k * width + i] += values[r * width + i] }
                    }
                    if rows.count > 1 {
                        for i in 0..<width { matrix[s * columns + k * width + i] /= Float(rows.count) }
                    }
                }
            }
            if let bad = matrix.firstIndex(where: { !$0.isFinite }) {
                let example = examples[bad / columns], column = bad % columns
                throw CollectError.nanActivation(example: "\(example.source) row \(example.row)",
                                                 layer: plan.layers[column / width],
                                                 neuron: column % width,
                                                 position: plan.positionNames(promptLength: 0)[p])
            }
            activations.append(matrix)
        }
        return activations
    }

    /// Per-token collection: every token of each text (cut to `maxTokens`, with BOS as the tokenizer adds
    /// it) that has a next token becomes a row: its FFN sites, and the log-probability the model gives
    /// the next token there. The LM head runs only at those rows.
    func collectTokens(_ indices: [Int], model: DecoderModel, plan: CollectionPlan) throws -> Batch {
        let examples = indices.map { experiment.dataset.examples[$0] }
        let template = experiment.recipe.task.template
        let tokenizer = experiment.loaded.tokenizer
        let sequences = examples.map { example -> [Int32] in
            Array(tokenizer.encode(TextPart.filling(template, with: example.text), addSpecialTokens: true)
                .prefix(plan.maxTokens))
        }
        let layout = TokenBatch(sequences)
        var rows: [Int] = [], rowIndices: [Int] = [], rowTokens: [Int] = [], targets: [Int32] = []
        for (s, sequence) in sequences.enumerated() where sequence.count > 1 {
            for t in 0..<(sequence.count - 1) {
                rows.append(s * layout.length + t)
                rowIndices.append(indices[s])
                rowTokens.append(t)
                targets.append(sequence[t + 1])
            }
        }
        let width = experiment.loaded.model.ffnWidth, columns = plan.layers.count * width
        guard !rows.isEmpty else {
            return Batch(activations: [[]], metrics: [], rowIndices: [], rowTokens: [], tokens: layout.rows)
        }
        let capture = SiteCapture(layers: plan.layers, rows: rows)
        let logits = model.forward(embeddings: try model.embed(layout), batch: layout, hooks: capture.hooks,
                                   logitRows: rows)
            .logits!.value
        var matrix = [Float](repeating: 0, count: rows.count * columns)
        for (k, site) in capture.sites.enumerated() {
            let values = site.scalars
            for r in 0..<rows.count {
                for i in 0..<width { matrix[r * columns + k * width + i] = values[r * width + i] }
            }
        }
        if let bad = matrix.firstIndex(where: { !$0.isFinite }) {
            let example = examples[indices.firstIndex(of: rowIndices[bad / columns])!], column = bad % columns
            throw CollectError.nanActivation(example: "\(example.source) row \(example.row), " +
                                             "token \(rowTokens[bad / columns])",
                                             layer: plan.layers[column / width], neuron: column % width,
                                             position: "every")
        }
        // log p(next token) = logit − logsumexp(logits), per row, in Double.
        let vocabulary = logits.shape[1]
        var logprobs = [Double](repeating: 0, count: rows.count)
        logits.withPointer { p in
            for r in 0..<rows.count {
                logprobs[r] = logProbability(p + r * vocabulary, vocabulary: vocabulary, target: Int(targets[r]))
            }
        }
        return Batch(activations: [matrix], metrics: logprobs, rowIndices: rowIndices,
                     rowTokens: rowTokens, tokens: layout.rows)
    }
}

/// log softmax(row)[target], in Double, for one row of V logits.
func logProbability(_ row: UnsafePointer<Float>, vocabulary v: Int, target: Int) -> Double {
    var maximum = -Float.infinity
    for j in 0..<v { maximum = max(maximum, row[j]) }
    var total = 0.0
    for j in 0..<v { total += exp(Double(row[j] - maximum)) }
    return Double(row[target] - maximum) - log(total)
}
