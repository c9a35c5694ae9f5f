import AtomicFiles
import Autodiff
import Checkpoints
import Datasets
import Foundation
import HDF5Kit
import Models
import Optimizers
import Recipes
import TensorCore
import Training

/// Stage 1: tune a soft prompt on the recipe's task with the model frozen, early-stopping on dev, and
/// report its test accuracy beside zero-shot with the same framing.
///
/// Writes `prompt/prompt.safetensors` (the best prompt, plus the head for encoders, with provenance in its
/// metadata), `prompt/state.safetensors` after every epoch (so an interrupted run resumes from its last
/// finished epoch), and `prompt/stage.json`.
public struct PromptStage: Stage {
    public static let name = StageName.prompt

    public struct Result: Sendable {
        public var zeroShotAccuracy: Double?
        public var promptAccuracy: Double
        public var devAccuracy: Double
        public var margin: Double?
        public var marginInterval: (Double, Double)?
        public var epochs: Int
        public var skippedRows: Int
        public var testExamples: Int
        public var promptFile: String
        public var reused: Bool
    }

    public let place: StagePlace
    public init(_ place: StagePlace) { self.place = place }
    /// Stop with `PromptStageInterrupted` once this many epochs have finished and their state is saved;
    /// tests use it to interrupt a run and check that the next one resumes exactly.
    public var stopAfterEpochs: Int?

    /// The prompt section as read, with the schema's defaults.
    public typealias Options = Recipe.PromptSection
    public func options() throws -> Recipe.PromptSection { experiment.recipe.prompt }

    /// What the prompt depends on besides its options: the model file, the dataset file, data and task.
    public func dependencyInputs(_ options: Options) throws -> [String: String] {
        ["model": try SHA256.checkpoint(experiment.modelPath), "data": try experiment.dataSHA256(),
         "basis": SHA256.hex(experiment.recipe.canonicalBasis)]
    }

    public func run(force: Bool = false, quiet: Bool = false, stopAfterEpochs: Int?) throws -> Result {
        var stage = self
        stage.stopAfterEpochs = stopAfterEpochs
        return try stage.run(force: force, quiet: quiet)
    }

    /// The prompt's figures, from its archive group (the skipped rows from the dataset, which made them).
    public func read(_ record: RunFolder.StageRecord, reused: Bool) throws -> Result {
        let url = EvidenceArchive.url(folder)
        let file = try EvidenceArchive.open(url)        // kept open while its group is read
        let group = try file.root.group("prompt")
        func double(_ name: String) -> Double? {
            if case .double(let value)? = try? group.attribute(name) { return value }
            return nil
        }
        func int(_ name: String) -> Int? {
            if case .int(let value)? = try? group.attribute(name) { return Int(value) }
            return nil
        }
        guard let accuracy = double("prompt_accuracy"), let dev = double("dev_accuracy"),
              let epochs = int("epochs"), let tested = int("test_examples") else {
            throw CollectError.corruptStore(path: url.path, detail: "/prompt is incomplete")
        }
        var interval: (Double, Double)?
        if case .doubles(let ci)? = try? group.attribute("margin_ci"), ci.count == 2 { interval = (ci[0], ci[1]) }
        return Result(zeroShotAccuracy: double("zero_shot_accuracy"), promptAccuracy: accuracy, devAccuracy: dev,
                      margin: double("margin"), marginInterval: interval, epochs: epochs,
                      skippedRows: experiment.dataset.skipped, testExamples: tested,
                      promptFile: folder.promptFile.path, reused: reused)
    }

    /// The record's figures: the accuracies, epochs, skipped rows and test size, and the margin if any.
    public func headline(_ result: Result) -> [String: Figure] {
        var figures: [String: Figure] = [
            "prompt_accuracy": .number(result.promptAccuracy), "dev_accuracy": .number(result.devAccuracy),
            "epochs": .number(Double(result.epochs)), "skipped_rows": .number(Double(result.skippedRows)),
            "test_examples": .number(Double(result.testExamples))]
        if let zeroShot = result.zeroShotAccuracy { figures["zero_shot_accuracy"] = .number(zeroShot) }
        if let margin = result.margin, let interval = result.marginInterval {
            figures["margin"] = .number(margin)
            figures["margin_ci"] = .interval(interval)
        }
        return figures
    }

    // ------------------------------------------------------------------------------------------------
    // The prompt, in order:
    //
    //   task + initial prompt ─→ zero-shot on test (decoders) ─→ resume from the last saved epoch, or start
    //     ─→ epochs (seeded order, AdamW steps, dev accuracy, state saved) until `epochs`, or `patience`
    //        epochs without a better dev accuracy
    //     ─→ the best prompt on test, and its margin over zero-shot ─→ prompt.safetensors

    public func compute(_ run: StageRun<Recipe.PromptSection>) throws -> StageOutcome {
        let recipe = experiment.recipe, inputs = run.inputs, quiet = run.quiet
        let stageURL = try folder.stage("prompt")
        let data = experiment.dataset
        if data.skipped > 0 && !quiet { ProgressReporter.say("data: skipped \(data.skipped) incomplete rows") }
        let task = try makeTask()
        let examples = promptExamples(task)
        let trainer = PromptTrainer(task: task, initialPrompt: try initialPrompt(),
                                    learningRate: recipe.prompt.learningRate,
                                    weightDecay: recipe.prompt.weightDecay)
        let zeroShot = try self.zeroShot(trainer, examples, quiet: quiet)
        let stateURL = stageURL.appendingPathComponent("state.safetensors")
        var state = resumeOrStart(stateURL, inputs: inputs, trainer: trainer, quiet: quiet)
        while state.epoch < recipe.prompt.epochs && state.badEpochs < recipe.prompt.patience {
            try trainEpoch(&state, trainer: trainer, examples: examples, quiet: quiet)
            try scoreOnDev(&state, trainer: trainer, examples: examples, quiet: quiet)
            try state.save(stateURL, inputs: inputs, trainer: trainer)
            if let stop = stopAfterEpochs, state.epoch >= stop { throw PromptStageInterrupted(epoch: state.epoch) }
        }
        let tested = try testAndMargin(trainer, best: state.best, examples: examples, zeroShot: zeroShot)
        let promptURL = stageURL.appendingPathComponent("prompt.safetensors")
        try writePrompt(trainer, state: state, test: tested.test, zeroShot: zeroShot, inputs: inputs, to: promptURL)
        try? FileManager.default.removeItem(at: stateURL)
        let figures = Figures(zeroShotAccuracy: zeroShot?.accuracy, promptAccuracy: tested.test.accuracy,
                              devAccuracy: state.bestDev, margin: tested.margin, marginInterval: tested.interval,
                              epochs: state.epoch)
        let outputs = ["prompt.safetensors": try SHA256.file(promptURL.path)]
        return StageOutcome(outputs: outputs,
                            archive: archiveWriter(figures, state: state, trainer: trainer, examples: examples))
    }

    /// The dataset as the prompt trains on it: every example's token ids and label, the splits, the
    /// training examples (the first `max_train_examples` of the split) and the evaluation batch size.
    struct PromptExamples {
        let sequences: [[Int32]]
        let labels: [Int]
        let splits: Splits
        let train: [Int]
        let evalBatch: Int

        /// The token ids and labels of these examples.
        func subset(_ indices: [Int]) -> ([[Int32]], [Int]) {
            (indices.map { sequences[$0] }, indices.map { labels[$0] })
        }
    }

    func promptExamples(_ task: PromptTask) -> PromptExamples {
        let recipe = experiment.recipe, data = experiment.dataset
        let splits = Splits(count: data.examples.count, train: recipe.data.train,
                            dev: recipe.data.dev, seed: recipe.data.splitSeed)
        var trainIndices = splits.train
        if let cap = recipe.prompt.maxTrainExamples { trainIndices = Array(trainIndices.prefix(cap)) }
        return PromptExamples(sequences: data.examples.map { task.ids($0.text) },
                              labels: data.examples.map { $0.label! }, splits: splits, train: trainIndices,
                              evalBatch: max(recipe.prompt.batchSize, 16))
    }

    /// Zero-shot: the same framing without a prompt, on the test split (decoders only; an encoder's head
    /// starts untrained, so nil).
    func zeroShot(_ trainer: PromptTrainer, _ examples: PromptExamples, quiet: Bool) throws -> Evaluation? {
        guard case .verbalizers = trainer.task.framing else { return nil }
        let (x, y) = examples.subset(examples.splits.test)
        let progress = ProgressReporter("prompt: zero-shot test", total: x.count)
        progress.quiet = quiet
        return try trainer.evaluate(x, labels: y, batchSize: examples.evalBatch, withPrompt: false) {
            progress.update($0)
        }
    }

    /// The state after the last finished epoch, if an earlier run of the same inputs left it (the trainer's
    /// trainables and Adam's moments restored); otherwise epoch 0 with the trainer's initial values as best.
    func resumeOrStart(_ url: URL, inputs: [String: String], trainer: PromptTrainer, quiet: Bool) -> TrainingState {
        let start = TrainingState(epoch: 0, bestDev: -1, badEpochs: 0, best: trainer.trainables.map(\.value),
                                  losses: [], devAccuracies: [])
        guard let saved = try? TrainingState.load(url, inputs: inputs, trainer: trainer) else { return start }
        if !quiet { ProgressReporter.say("prompt: resuming after epoch \(saved.epoch)") }
        return saved
    }

    /// One pass over the training examples in the epoch's seeded order, `batch_size` at a time, each
    /// step's loss appended to the state's curve (the progress line shows the mean of the last 20).
    func trainEpoch(_ state: inout TrainingState, trainer: PromptTrainer, examples: PromptExamples,
                    quiet: Bool) throws {
        let prompt = experiment.recipe.prompt, epoch = state.epoch
        let steps = (examples.train.count + prompt.batchSize - 1) / prompt.batchSize
        var rng = SeededRandom(seed: seed(.epochOrder, epoch))
        let order = rng.shuffled(examples.train)
        let progress = ProgressReporter("prompt: epoch \(epoch + 1)/\(prompt.epochs)", total: order.count)
        progress.quiet = quiet
        var recent: [Float] = []
        for s in 0..<steps {
            let batch = Array(order[(s * prompt.batchSize)..<min(order.count, (s + 1) * prompt.batchSize)])
            let (x, y) = examples.subset(batch)
            let loss = try trainer.step(x, labels: y)
            guard loss.isFinite else {
                throw TrainingError.nonFiniteLoss(stage: "prompt", step: s, epoch: epoch + 1)
            }
            recent.append(loss)
            state.losses.append(loss)
            if recent.count > 20 { recent.removeFirst() }
            progress.update(min(order.count, (s + 1) * prompt.batchSize),
                            String(format: "loss %.4f", recent.reduce(0, +) / Float(recent.count)))
        }
    }

    /// Ends an epoch with early stopping's bookkeeping: the dev accuracy is appended to its curve; a better
    /// one keeps the trainables as the best and resets the epochs without improvement, any other counts one.
    func scoreOnDev(_ state: inout TrainingState, trainer: PromptTrainer, examples: PromptExamples,
                    quiet: Bool) throws {
        let epoch = state.epoch
        let (x, y) = examples.subset(examples.splits.dev)
        let dev = try trainer.evaluate(x, labels: y, batchSize: examples.evalBatch).accuracy
        state.devAccuracies.append(dev)
        if dev > state.bestDev {
            state.bestDev = dev
            state.best = trainer.trainables.map(\.value)
            state.badEpochs = 0
        } else {
            state.badEpochs += 1
        }
        state.epoch += 1
        if !quiet {
            ProgressReporter.say(String(format: "prompt: epoch %d dev accuracy %.4f (best %.4f)",
                                        epoch + 1, dev, state.bestDev))
        }
    }

    /// The best prompt's test evaluation and, beside a zero-shot one, the margin: the difference of their
    /// accuracies with its paired-bootstrap 95% interval.
    struct Tested {
        let test: Evaluation
        var margin: Double?
        var interval: (Double, Double)?
    }

    /// Puts the best trainables back, then evaluates them on the test split.
    func testAndMargin(_ trainer: PromptTrainer, best: [Tensor], examples: PromptExamples,
                       zeroShot: Evaluation?) throws -> Tested {
        for (variable, best) in zip(trainer.trainables, best) { variable.value = best }
        let (x, y) = examples.subset(examples.splits.test)
        var tested = Tested(test: try trainer.evaluate(x, labels: y, batchSize: examples.evalBatch))
        if let zeroShot {
            let (d, low, high) = pairedBootstrapDifference(tested.test.correct, zeroShot.correct,
                                                           seed: seed(.marginBootstrap))
            tested.margin = d
            tested.interval = (low, high)
        }
        return tested
    }

    /// `prompt.safetensors`: the soft prompt (and an encoder's head), with what made it in its metadata.
    func writePrompt(_ trainer: PromptTrainer, state: TrainingState, test: Evaluation, zeroShot: Evaluation?,
                     inputs: [String: String], to url: URL) throws {
        let recipe = experiment.recipe
        var metadata: [String: String] = [
            "model_sha256": inputs["model"]!, "data_sha256": inputs["data"]!, "recipe_sha256": SHA256.hex(recipe.text),
            "recipe_name": recipe.name, "seed": String(recipe.seed), "epochs": String(state.epoch),
            "dev_accuracy": String(state.bestDev), "test_accuracy": String(test.accuracy),
        ]
        if let zeroShot { metadata["zero_shot_test_accuracy"] = String(zeroShot.accuracy) }
        var entries = [SafetensorsEntry(name: "soft_prompt", floats: trainer.prompt.value.scalars,
                                        shape: trainer.prompt.value.shape)]
        if case .head(let w, let b) = trainer.task.framing {
            entries.append(SafetensorsEntry(name: "head.weight", floats: w.value.scalars, shape: w.value.shape))
            entries.append(SafetensorsEntry(name: "head.bias", floats: b.value.scalars, shape: b.value.shape))
        }
        try writeSafetensors(entries, metadata: metadata, to: url)
    }

    /// The figures a finished training writes into `/prompt`.
    struct Figures {
        let zeroShotAccuracy: Double?
        let promptAccuracy: Double
        let devAccuracy: Double
        let margin: Double?
        let marginInterval: (Double, Double)?
        let epochs: Int
    }

    /// Writes `/prompt`: the settings and figures as attributes, then the soft prompt and the curves
    /// (loss per step, dev accuracy per epoch).
    func archiveWriter(_ result: Figures, state: TrainingState, trainer: PromptTrainer,
                       examples: PromptExamples) -> (HDF5Group) throws -> Void {
        let prompt = experiment.recipe.prompt
        return { group in
            try group.setAttribute("length", .int(Int64(prompt.length)))
            try group.setAttribute("epochs", .int(Int64(result.epochs)))
            try group.setAttribute("learning_rate", .double(Double(prompt.learningRate)))
            try group.setAttribute("batch_size", .int(Int64(prompt.batchSize)))
            try group.setAttribute("train_examples", .int(Int64(examples.train.count)))
            try group.setAttribute("test_examples", .int(Int64(examples.splits.test.count)))
            try group.setAttribute("prompt_accuracy", .double(result.promptAccuracy))
            try group.setAttribute("dev_accuracy", .double(result.devAccuracy))
            if let zeroShot = result.zeroShotAccuracy {
                try group.setAttribute("zero_shot_accuracy", .double(zeroShot))
            }
            if let margin = result.margin, let interval = result.marginInterval {
                try group.setAttribute("margin", .double(margin))
                try group.setAttribute("margin_ci", .doubles([interval.0, interval.1]))
            }
            let soft = trainer.prompt.value
            try group.write("soft_prompt", soft.scalars, shape: soft.shape)
            try group.write("loss", state.losses.map(Double.init), shape: [state.losses.count])
            try group.write("dev_accuracy", state.devAccuracies, shape: [state.devAccuracies.count])
        }
    }

    /// The task with the trained soft prompt (and head) of a finished prompt stage, for the later stages.
    /// - orUntuned: for a recipe without a prompt stage, the untuned task and no prompt rows instead.
    public func trained(orUntuned: Bool = false) throws -> (task: PromptTask, prompt: Tensor?) {
        if orUntuned && !experiment.recipe.stages.contains("prompt") { return (try makeTask(), nil) }
        let url = folder.promptFile
        guard try upToDate() != nil else {
            throw TrainingError.framing("the soft prompt in \(url.path) is missing or out of date; " +
                                        "run `scalpel tune-prompt \(experiment.recipeFile)` first")
        }
        let task = try makeTask()
        return (task, try Self.readPrompt(url, length: experiment.recipe.prompt.length, into: task))
    }

    /// The soft prompt of `length` rows saved in `url`, with an encoder head's weights read into `task`.
    static func readPrompt(_ url: URL, length: Int, into task: PromptTask) throws -> Tensor {
        let file = try SafetensorsFile(path: url.path)
        let rows = try file.floats("soft_prompt")
        guard length > 0, !rows.isEmpty, rows.count % length == 0 else {
            throw CollectError.corruptStore(path: url.path, detail: "its soft prompt has \(rows.count) values, " +
                                            "not \(length) whole rows; tune the prompt again")
        }
        if case .head(let w, let b) = task.framing {
            w.value = Tensor(shape: w.value.shape, scalars: try file.floats("head.weight"))
            b.value = Tensor(shape: b.value.shape, scalars: try file.floats("head.bias"))
        }
        return Tensor(shape: [length, rows.count / length], scalars: rows)
    }

    func makeTask() throws -> PromptTask {
        let recipe = experiment.recipe, loaded = experiment.loaded
        if let ids = experiment.verbalizerIDs {
            return PromptTask(model: loaded.model, tokenizer: loaded.tokenizer,
                              framing: .verbalizers(template: recipe.task.template, ids: ids),
                              classes: ids.count)
        }
        guard case .bert(let bert) = loaded.model else {
            throw TrainingError.framing("a classification head needs an encoder")
        }
        var rng = SeededRandom(seed: seed(.headInit))
        let classes = experiment.dataset.classes.count, c = bert.config.hiddenSize
        let weight = Variable(Tensor(randomNormal: [classes, c], std: 1 / Float(c).squareRoot(), using: &rng),
                              requiresGrad: true, name: "head.weight")
        let bias = Variable(Tensor(shape: [classes]), requiresGrad: true, name: "head.bias")
        return PromptTask(model: loaded.model, tokenizer: loaded.tokenizer, framing: .head(weight: weight, bias: bias),
                          classes: classes)
    }

    /// P rows: embeddings of random vocabulary tokens (seeded), or of the tokens of `init_words`, repeated.
    func initialPrompt() throws -> Tensor {
        let recipe = experiment.recipe, loaded = experiment.loaded
        let p = recipe.prompt.length
        var ids: [Int32]
        if recipe.prompt.initialisation == "words", let words = recipe.prompt.initWords {
            let tokens = loaded.tokenizer.encode(words.joined(separator: " "), addSpecialTokens: false)
            guard !tokens.isEmpty else { throw TrainingError.framing("prompt.init_words has no tokens") }
            ids = (0..<p).map { tokens[$0 % tokens.count] }
        } else {
            var rng = SeededRandom(seed: seed(.promptInit))
            let special = loaded.tokenizer.specialTokenIDs
            ids = []
            while ids.count < p {
                let id = Int32(rng.nextInt(below: loaded.tokenizer.vocabularySize))
                if !special.contains(id) { ids.append(id) }
            }
        }
        let rows: [Tensor] = ids.map { id in
            switch loaded.model {
            case .decoder(let m): m.embeddingRow(id)
            case .bert(let m): m.wordEmbeddingRow(id)
            }
        }
        return Tensor(shape: [p, rows[0].shape[1]], scalars: rows.flatMap(\.scalars))
    }
}

public struct PromptStageInterrupted: Error { public let epoch: Int }

/// What `prompt/state.safetensors` holds after each epoch: the trainables, Adam's moments, and the
/// early-stopping bookkeeping and the training curves (loss per step, dev accuracy per epoch), tagged with
/// the input hashes so a changed recipe never resumes a stale run.
struct TrainingState {
    var epoch: Int
    var bestDev: Double
    var badEpochs: Int
    var best: [Tensor]
    var losses: [Float]
    var devAccuracies: [Double]

    func save(_ url: URL, inputs: [String: String], trainer: PromptTrainer) throws {
        var entries: [SafetensorsEntry] = []
        let (first, second, steps) = trainer.optimizer.state
        for (i, v) in trainer.trainables.enumerated() {
            entries.append(SafetensorsEntry(name: "current.\(i)", floats: v.value.scalars, shape: v.value.shape))
            entries.append(SafetensorsEntry(name: "best.\(i)", floats: best[i].scalars, shape: best[i].shape))
            entries.append(SafetensorsEntry(name: "adam_m.\(i)", floats: first[i], shape: [first[i].count]))
            entries.append(SafetensorsEntry(name: "adam_v.\(i)", floats: second[i], shape: [second[i].count]))
        }
        entries.append(SafetensorsEntry(name: "curve.loss", floats: losses, shape: [losses.count]))
        var metadata = inputs.mapValues { $0 }
        metadata["dev_curve"] = devAccuracies.map { String($0) }.joined(separator: ",")
        metadata["epoch"] = String(epoch)
        metadata["best_dev"] = String(bestDev)
        metadata["bad_epochs"] = String(badEpochs)
        metadata["steps"] = steps.map(String.init).joined(separator: ",")
        try writeSafetensors(entries, metadata: metadata, to: url)
    }

    static func load(_ url: URL, inputs: [String: String], trainer: PromptTrainer) throws -> TrainingState? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let file = try SafetensorsFile(path: url.path)
        for (key, value) in inputs where file.metadata[key] != value { return nil }
        guard let epoch = Int(file.metadata["epoch"] ?? ""), let bestDev = Double(file.metadata["best_dev"] ?? ""),
              let bad = Int(file.metadata["bad_epochs"] ?? "") else { return nil }
        let steps = (file.metadata["steps"] ?? "").split(separator: ",").compactMap { Int($0) }
        var best: [Tensor] = [], first: [[Float]] = [], second: [[Float]] = []
        for (i, v) in trainer.trainables.enumerated() {
            v.value = Tensor(shape: v.value.shape, scalars: try file.floats("current.\(i)"))
            best.append(Tensor(shape: v.value.shape, scalars: try file.floats("best.\(i)")))
            first.append(try file.floats("adam_m.\(i)"))
            second.append(try file.floats("adam_v.\(i)"))
        }
        trainer.optimizer.state = (first, second, steps)
        let losses = (try? file.floats("curve.loss")) ?? []
        let devs = (file.metadata["dev_curve"] ?? "").split(separator: ",").compactMap { Double($0) }
        return TrainingState(epoch: epoch, bestDev: bestDev, badEpochs: bad, best: best,
                             losses: losses, devAccuracies: devs)
    }
}
