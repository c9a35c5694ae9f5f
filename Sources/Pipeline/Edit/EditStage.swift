import AtomicFiles
import Autodiff
import Checkpoints
import Datasets
import Foundation
import HDF5Kit
import Interventions
import Models
import Optimizers
import Recipes
import TensorCore
import Tokenizers
import Training

/// Stage 6: sparse editing. Only the selected neurons' weights train (rows of W_gate and W_up, columns of
/// W_down), through gradient masks: gradients and Adam state exist for those slices alone, and every
/// other weight keeps its bits. The result is written as an edited GGUF beside the run.
///
/// Objectives:
/// - `task`: cross-entropy of the task's classes with the bare template (no soft prompt, so the edited
///   model carries the skill by itself);
/// - `pair_preference`: for pair datasets (CrowS-Pairs, StereoSet, WinoBias), the squared difference of
///   the two sentences' log-probabilities, pushing the model to find them equally likely;
/// - `metric_suppression`: for shortcut removal, the last-token activations of a neuron set (`edit.suppress`,
///   an intervention file; default the edited neurons) pushed towards `edit.target`, with `task_weight` ×
///   the task loss keeping the skill.
/// Either can add `kl_weight` × KL(base ‖ edited) on general text, so the rest of the model's behaviour stays.
public struct EditStage: Stage {
    public static let name = StageName.edit
    public static let dependencies: [StageName] = [.rank]

    public struct Result: Sendable {
        public var neurons: [Intervention.Neuron]
        public var objective: String
        public var losses: [Double]
        public var klPenalties: [Double]
        public var checkpoint: String
        /// The Hugging Face export's folder (model.safetensors, config.json and the tokenizer's files);
        /// nil where none is written (a GGUF base too large to export in Float32).
        public var huggingFace: String?
        public var mode: String
        public var trainableWeights: Int
        public var optimizerStateFloats: Int
        /// The test accuracy of the edit in Float32, measured where the written file rounds it.
        public var float32Accuracy: Double? = nil
        public var seconds: Double
    }

    public let place: StagePlace
    public init(_ place: StagePlace) { self.place = place }

    public struct Options {
        var objective: String
        var neurons: Int
        var maskFile: String?
        var learningRate: Float
        var weightDecay: Float
        var steps: Int
        var batchSize: Int
        var klWeight: Double
        var generalTexts: Int
        var generalPath: String
        var mode: EditedCheckpoint.Mode
        var randomControl: Bool
        var suppress: String?
        var target: Double
        var taskWeight: Double
    }

    /// The Hugging Face export of a GGUF base is built in memory in Float32: skipped beyond this size
    /// (4 GiB, a 1B model) with a message. A folder base always exports, since its edit is that folder.
    public var huggingFaceExportLimitBytes = 4 << 30

    public func options() throws -> Options {
        let r = experiment.recipe, s = r.settings
        var problems = RecipeProblems(r, file: experiment.recipeFile)
        let objective = s.string("edit.objective")!
        if (objective == "task" || objective == "metric_suppression") && experiment.verbalizerIDs == nil {
            problems.add("edit.objective", "the \(objective) objective needs a decoder framed with verbalizers")
        }
        if objective == "pair_preference" && !experiment.dataset.examples.contains(where: { $0.pair != nil }) {
            problems.add("edit.objective", "pair_preference needs a pair dataset (crows_pairs, stereoset, winobias); " +
                         "this one has no pairs")
        }
        // A mask or suppression file must be an intervention naming neurons this model has.
        let model = experiment.loaded.model
        for key in ["edit.mask", "edit.suppress"] {
            guard let file = r.string(key) else { continue }
            do {
                try Intervention.load(URL(fileURLWithPath: Experiment.resolve(file, root: experiment.root)))
                    .validate(layers: model.layers, width: model.ffnWidth)
            } catch { problems.add(key, "\(error)") }
        }
        // Ranges were checked with the recipe (RecipeSchema's bounds); what is left is how options combine.
        try problems.check()
        return Options(objective: objective, neurons: s.int("edit.neurons")!, maskFile: s.string("edit.mask"),
                       learningRate: Float(s.number("edit.learning_rate")!),
                       weightDecay: Float(s.number("edit.weight_decay")!), steps: s.int("edit.steps")!,
                       batchSize: s.int("edit.batch_size")!,
                       klWeight: s.number("edit.kl_weight")!, generalTexts: s.int("edit.general_texts")!,
                       generalPath: s.string("audit.general_text")!,
                       mode: EditedCheckpoint.Mode(rawValue: s.string("edit.write")!) ?? .onGrid,
                       randomControl: s.string("edit.selection") == "random",
                       suppress: s.string("edit.suppress"), target: s.number("edit.target")!,
                       taskWeight: s.number("edit.task_weight")!)
    }

    /// The neurons to edit: from a mask file (an intervention JSON), or the ranking's top ones.
    func neurons(_ options: Options) throws -> [Intervention.Neuron] {
        if let file = options.maskFile {
            let knob = try Intervention.load(URL(fileURLWithPath: Experiment.resolve(file, root: experiment.root)))
            return knob.neurons
        }
        let ranked = try AblateStage(experiment: experiment, folder: folder).rankedNeurons().ranked
        guard ranked.count >= options.neurons else {
            throw CollectError.badPlan(path: experiment.recipeFile,
                                       detail: "edit.neurons is \(options.neurons) but the ranking scored only " +
                                       "\(ranked.count) neurons")
        }
        let top = Array(ranked.prefix(options.neurons))
        guard options.randomControl else { return top }
        // The control: as many neurons in every layer as the top set, none of them selected.
        return try matchedRandomSets(for: top, count: 1, width: experiment.loaded.model.ffnWidth, excluding: Set(top),
                                     seed: seed(.randomControl))[0]
    }

    /// What the edit depends on besides its options: the base model, the data and task, the ranking it
    /// selects from, the general text of its KL penalty, and any mask or suppression file it names.
    public func dependencyInputs(_ options: Options) throws -> [String: String] {
        var inputs = ["basis": SHA256.hex(experiment.recipe.canonicalBasis),
                      "model": try SHA256.checkpoint(experiment.modelPath)]
        if let rank = folder.record("rank") { inputs["rank"] = rank.inputsDigest }
        let general = Experiment.resolve(options.generalPath, root: experiment.root)
        if options.klWeight > 0, FileManager.default.fileExists(atPath: general) {
            inputs["general_text"] = try SHA256.file(general)
        }
        for (key, file) in [("edit.mask", options.maskFile), ("edit.suppress", options.suppress)] {
            if let file { inputs[key] = try SHA256.file(Experiment.resolve(file, root: experiment.root)) }
        }
        return inputs
    }

    public func read(_ record: RunFolder.StageRecord, reused: Bool) throws -> Result {
        try Self.load(EvidenceArchive.url(folder), seconds: record.seconds)
    }

    /// The record's figures: the neurons edited and the training's last loss.
    public func headline(_ result: Result) -> [String: Figure] {
        ["neurons": .number(Double(result.neurons.count)), "final_loss": .number(result.losses.last ?? .nan)]
    }

    // ------------------------------------------------------------------------------------------------
    // The edit, in order:
    //
    //   neurons ─→ refused if `exact` would write too much ─→ an editable copy, masks on their slices
    //     ─→ KL targets (the base on general text) ─→ training pool ─→ `steps` AdamW steps
    //     ─→ edited tensors ─→ Float32 test accuracy ─→ edited checkpoint + Hugging Face export
    //
    // The outputs are staged and renamed into place together; the archive group is written by the runner.

    public func compute(_ run: StageRun<Options>) throws -> StageOutcome {
        let options = run.options
        let started = Date()
        let chosen = try neurons(options)
        let width = experiment.loaded.model.ffnWidth, layers = experiment.loaded.model.layers
        try Intervention(mode: .zero, neurons: chosen).validate(layers: layers, width: width)
        let selection = NeuronSelection(Dictionary(grouping: chosen, by: \.layer).mapValues { $0.map(\.neuron) })
        try refuseExactBeyondLimit(chosen, mode: options.mode)
        // A second copy of the model whose selected slices train; the experiment's copy stays the base.
        let editable = try ModelLoader.load(experiment.recipe.model, trainableNeurons: selection)
        guard case .decoder(let model) = editable.model, case .decoder(let base) = experiment.loaded.model else {
            throw TrainingError.framing("sparse editing is available for decoders in this version")
        }
        let general = try generalTextTargets(base, tokenizer: editable.tokenizer, options: options)
        let pool = try trainingPool(options)
        let suppressed = try suppressedNeurons(chosen, options: options)
        let training = try train(model, tokenizer: editable.tokenizer, pool: pool, suppressed: suppressed,
                                 general: general, options: options, quiet: run.quiet)
        let edited = try editedTensors(model, chosen: chosen)
        let float32Accuracy = try float32TestAccuracy(model, tokenizer: editable.tokenizer, mode: options.mode)
        let written = try writeOutputs(model, edited: edited, chosen: chosen, float32Accuracy: float32Accuracy,
                                       baseHash: run.inputs["model"]!, options: options, quiet: run.quiet)
        let result = Result(neurons: chosen, objective: options.objective, losses: training.losses,
                            klPenalties: training.penalties, checkpoint: written.checkpoint.path,
                            huggingFace: written.huggingFace?.path, mode: options.mode.rawValue,
                            trainableWeights: training.trainableWeights,
                            optimizerStateFloats: training.optimizerStateFloats,
                            float32Accuracy: float32Accuracy, seconds: Date().timeIntervalSince(started))
        let outputs = [written.checkpoint.lastPathComponent: try SHA256.checkpoint(written.checkpoint.path)]
        return StageOutcome(outputs: outputs,
                            notes: ["checkpoint": written.checkpoint.path],
                            archive: archiveWriter(result, options: options))
    }

    /// `exact` writes the edited layers' tensors in Float32: refused before training, not after, when they
    /// would pass `EditedCheckpoint.exactLimitBytes`.
    func refuseExactBeyondLimit(_ chosen: [Intervention.Neuron], mode: EditedCheckpoint.Mode) throws {
        guard mode == .exact, case .decoder(let base) = experiment.loaded.model else { return }
        let names = Set(chosen.map(\.layer)).flatMap { l in
            let owned = base.config.ownership(l)
            return owned.rowOwned + owned.columnOwned + owned.entryOwned + owned.halvesOwned
        }
        let bytes = names.reduce(0) { $0 + 4 * (base.parameters[$1]?.shape.reduce(1, *) ?? 0) }
        if bytes > EditedCheckpoint.exactLimitBytes {
            throw EditError.tooLargeForExact(bytes: bytes, limit: EditedCheckpoint.exactLimitBytes)
        }
    }

    /// The KL penalty's targets: the base model's next-token distributions on general text.
    ///
    ///   p = softmax(base logits)  on every token row of the batch
    ///   entropy = −Σ p · log p / rows      (the soft cross-entropy minus it is KL(base ‖ edited))
    struct GeneralTextTargets {
        let batch: TokenBatch
        let rows: [Int]
        /// [rows, V] probabilities
        let targets: Tensor
        let entropy: Double
    }

    /// The KL targets on the general text's texts after the audit's held-out ones (up to `general_texts`,
    /// each cut to 48 tokens); nil without a KL penalty.
    func generalTextTargets(_ base: DecoderModel, tokenizer: any Tokenizer,
                            options: Options) throws -> GeneralTextTargets? {
        guard options.klWeight > 0 else { return nil }
        let path = Experiment.resolve(options.generalPath, root: experiment.root)
        guard FileManager.default.fileExists(atPath: path) else {
            throw CollectError.badPlan(path: experiment.recipeFile,
                                       detail: "edit.kl_weight needs general text, but \(path) is missing; " +
                                       "run Scripts/fetch or set audit.general_text")
        }
        // The audit measures perplexity and KL on the file's first texts, so the penalty trains on later ones.
        let all = try DatasetLoader.load(DatasetSpec(format: .wikitext, path: path)).examples
        guard all.count > Audit.heldOutTexts else {
            throw CollectError.badPlan(path: experiment.recipeFile,
                                       detail: "edit.kl_weight needs more than \(Audit.heldOutTexts) " +
                                       "general texts in \(path) " +
                                       "(the audit keeps the first \(Audit.heldOutTexts)); it has \(all.count)")
        }
        let texts = all.dropFirst(Audit.heldOutTexts).prefix(options.generalTexts)
        let ids = texts.map {
            Array(tokenizer.encodeData($0.text, addSpecialTokens: true).prefix(48))
        }.filter { $0.count > 1 }
        let batch = TokenBatch(ids)
        let rows = (0..<batch.batch).flatMap { batch.tokenRows($0) }
        let logits = base.forward(embeddings: try base.embed(batch), batch: batch, logitRows: rows).logits!.value
        var probabilities = GeneralTextEvaluator.logSoftmax(logits)
        // The base's own entropy: the soft cross-entropy minus it is KL(base ‖ edited), which is what is
        // reported.
        var entropy = 0.0
        for i in probabilities.indices {
            let logP = Double(probabilities[i])
            probabilities[i] = exp(probabilities[i])
            entropy -= Double(probabilities[i]) * logP
        }
        return GeneralTextTargets(batch: batch, rows: rows,
                                  targets: Tensor(shape: logits.shape, scalars: probabilities),
                                  entropy: entropy / Double(rows.count))
    }

    /// The training split's examples to edit on (for pair_preference, those with a pair).
    func trainingPool(_ options: Options) throws -> [Int] {
        let recipe = experiment.recipe
        let splits = Splits(count: experiment.dataset.examples.count, train: recipe.data.train,
                            dev: recipe.data.dev, seed: recipe.data.splitSeed)
        var pool = splits.train
        if options.objective == "pair_preference" { pool = pool.filter { experiment.dataset.examples[$0].pair != nil } }
        guard !pool.isEmpty else {
            throw CollectError.badPlan(path: experiment.recipeFile,
                                       detail: "the training split has no examples to edit on")
        }
        return pool
    }

    /// metric_suppression: the set whose last-token activations are pushed towards `target`
    /// (default: the edited neurons), checked against the model when that is the objective.
    func suppressedNeurons(_ chosen: [Intervention.Neuron], options: Options) throws -> [Intervention.Neuron] {
        let suppressed = try options.suppress.map {
            try Intervention.load(URL(fileURLWithPath: Experiment.resolve($0, root: experiment.root))).neurons
        } ?? chosen
        if options.objective == "metric_suppression" {
            let model = experiment.loaded.model
            try Intervention(mode: .zero, neurons: suppressed).validate(layers: model.layers, width: model.ffnWidth)
        }
        return suppressed
    }

    /// What the optimizer loop leaves: the objective and the KL penalty at every step, and what it trained.
    struct TrainingOutcome {
        var losses: [Double] = []
        var penalties: [Double] = []
        var trainableWeights: Int
        var optimizerStateFloats = 0
    }

    /// The optimizer loop: `steps` AdamW steps on the masked slices, each on the next `batch_size` examples of
    /// `pool` (reshuffled onto the end whenever fewer remain), minimising the objective + `kl_weight` × KL.
    func train(_ model: DecoderModel, tokenizer: any Tokenizer, pool: [Int], suppressed: [Intervention.Neuron],
               general: GeneralTextTargets?, options: Options, quiet: Bool) throws -> TrainingOutcome {
        let trainable = model.parameters.values.filter { $0.mask != nil }.sorted { ($0.name ?? "") < ($1.name ?? "") }
        let optimizer = AdamW(parameters: trainable, learningRate: options.learningRate,
                              weightDecay: options.weightDecay)
        var training = TrainingOutcome(trainableWeights: trainable.reduce(0) {
            $0 + ($1.mask!.indices.count * $1.mask!.sliceLength)
        })
        let task = options.objective != "pair_preference"
            ? PromptTask(model: .decoder(model), tokenizer: tokenizer,
                         framing: .verbalizers(template: experiment.recipe.task.template,
                                               ids: experiment.verbalizerIDs!),
                         classes: experiment.verbalizerIDs!.count)
            : nil
        var rng = SeededRandom(seed: seed(.batchOrder))
        var order: [Int] = []
        let progress = ProgressReporter("edit", total: options.steps, unit: "steps")
        progress.quiet = quiet
        for step in 0..<options.steps {
            if order.count < options.batchSize { order += rng.shuffled(pool) }
            let indices = Array(order.prefix(options.batchSize))
            order.removeFirst(indices.count)
            let examples = indices.map { experiment.dataset.examples[$0] }
            optimizer.zeroGradients()
            var loss = try objectiveLoss(model, task: task, tokenizer: tokenizer, examples: examples,
                                         suppressed: suppressed, options: options)
            let objective = Double(loss.value.scalars[0])
            var penalty = 0.0
            if let general {
                let kl = try klDivergence(model, general)
                penalty = kl.penalty
                loss = add(loss, scale(kl.loss, by: Float(options.klWeight)))
            }
            guard loss.value.scalars[0].isFinite else {
                throw TrainingError.nonFiniteLoss(stage: "edit", step: step, epoch: 1)
            }
            loss.backward()
            optimizer.step()
            training.losses.append(objective)
            training.penalties.append(penalty)
            progress.update(step + 1, String(format: "loss %.4f", objective))
        }
        training.optimizerStateFloats = optimizer.stateElementCount
        return training
    }

    /// One batch's objective: metric_suppression's, the task's cross-entropy with the bare template, or
    /// pair_preference's (the objectives without a task).
    func objectiveLoss(_ model: DecoderModel, task: PromptTask?, tokenizer: any Tokenizer, examples: [Example],
                       suppressed: [Intervention.Neuron], options: Options) throws -> Variable {
        if options.objective == "metric_suppression", let task {
            return try suppressionLoss(task: task, examples: examples, suppressed: suppressed, options: options)
        } else if let task {
            return crossEntropy(try task.logits(examples.map { task.ids($0.text) }, prompt: nil),
                                targets: examples.map { Int32($0.label!) })
        }
        let template = experiment.recipe.task.template
        return try pairPreferenceLoss(model, tokenizer: tokenizer,
                                      pairs: examples.map { (TextPart.filling(template, with: $0.text),
                                                             TextPart.filling(template, with: $0.pair!)) })
    }

    /// The edited model's soft cross-entropy against the KL targets, to train on, and the KL it
    /// amounts to, to report:
    ///
    ///   loss = −Σ p_base · log p_edited / rows        penalty = max(0, loss − entropy of the base)
    func klDivergence(_ model: DecoderModel,
                      _ general: GeneralTextTargets) throws -> (loss: Variable, penalty: Double) {
        let logits = model.forward(embeddings: try model.embed(general.batch), batch: general.batch,
                                   logitRows: general.rows).logits!
        let kl = softCrossEntropy(logits, targets: general.targets)
        return (kl, max(0, Double(kl.value.scalars[0]) - general.entropy))
    }

    /// The edited tensors: those the chosen neurons own, by the family's one ownership description, each
    /// decoded when written, one at a time. `wholeRows`: the tensors whose rows each belong to one neuron.
    struct EditedTensors {
        var tensors: [String: () -> [Float]] = [:]
        var wholeRows = Set<String>()
    }

    func editedTensors(_ model: DecoderModel, chosen: [Intervention.Neuron]) throws -> EditedTensors {
        var edited = EditedTensors()
        for layer in Set(chosen.map(\.layer)) {
            let owned = model.config.ownership(layer)
            edited.wholeRows.formUnion(owned.rowOwned + owned.halvesOwned)
            for name in owned.rowOwned + owned.columnOwned + owned.entryOwned + owned.halvesOwned {
                guard let parameter = model.parameters[name] else { throw ModelError.missingTensor(name) }
                edited.tensors[name] = { parameter.materialized().scalars }
            }
        }
        return edited
    }

    /// What the file's format will cost: the task as the Float32 edit does it, before any rounding, for
    /// the audit to set beside the written edit's (measured only when the run audits, and not for `exact`).
    func float32TestAccuracy(_ model: DecoderModel, tokenizer: any Tokenizer,
                             mode: EditedCheckpoint.Mode) throws -> Double? {
        guard mode != .exact, experiment.recipe.stages.contains("audit"),
              let correct = try Audit.testCorrectness(model, experiment: experiment, tokenizer: tokenizer) else {
            return nil
        }
        return Double(correct.filter { $0 }.count) / Double(correct.count)
    }

    /// Writes the edit into `edit/`: a GGUF base gives an edited GGUF (its names, order and metadata) and the
    /// Hugging Face export; a Hugging Face folder gives the edited folder. Staged, then renamed into place
    /// together. Returns the edited checkpoint and the export's folder (nil when none was written).
    func writeOutputs(_ model: DecoderModel, edited: EditedTensors, chosen: [Intervention.Neuron],
                      float32Accuracy: Double?, baseHash: String, options: Options,
                      quiet: Bool) throws -> (checkpoint: URL, huggingFace: URL?) {
        let stage = try folder.stage("edit")
        let baseIsGGUF = (try? CheckpointFormat.open(experiment.modelPath).format) == .gguf
        let output = stage.appendingPathComponent(baseIsGGUF ? "edited.gguf" : "hf")
        let staged = try StagedOutputs(in: stage)
        defer { staged.discard() }
        let tokenizer = baseIsGGUF
            ? try writeEditedCheckpoint(edited, chosen: chosen, float32Accuracy: float32Accuracy, baseHash: baseHash,
                                        options: options, to: staged.url(output.lastPathComponent))
            : nil
        let export = try writeHuggingFaceExport(model, chosen: chosen, baseHash: baseHash, baseIsGGUF: baseIsGGUF,
                                                tokenizer: tokenizer, stage: stage, staged: staged, quiet: quiet)
        try staged.commit()
        return (output, export)
    }

    /// What the Hugging Face export takes from a GGUF base: its vocabulary as Hugging Face tokenizer files
    /// (nil for a vocabulary `TokenizerExport` cannot write), and its special tokens' ids for config.json.
    struct GGUFTokenizer {
        var files: [String: Data]?
        var ids: [String: Int] = [:]
    }

    /// The edited GGUF: the base file with the edited tensors replaced, stamped with the edit's provenance.
    func writeEditedCheckpoint(_ edited: EditedTensors, chosen: [Intervention.Neuron], float32Accuracy: Double?,
                               baseHash: String, options: Options, to url: URL) throws -> GGUFTokenizer {
        let baseFile = try ModelLoader.openGGUF(experiment.modelPath)     // the loaded models' mapping
        var tokenizer = GGUFTokenizer(files: try TokenizerExport.huggingFaceFiles(gguf: baseFile.metadata))
        for (key, field) in [("bos_token_id", "bos"), ("eos_token_id", "eos"), ("pad_token_id", "padding")] {
            if let id = baseFile.metadata["tokenizer.ggml.\(field)_token_id"]?.integer, id >= 0 {
                tokenizer.ids[key] = id
            }
        }
        try EditedCheckpoint.write(base: baseFile, edited: edited.tensors, mode: options.mode,
                                   wholeRows: edited.wholeRows, metadata: [
            ("scalpel.edit.base_sha256", .string(baseHash)),
            ("scalpel.edit.recipe_sha256", .string(SHA256.hex(experiment.recipe.text))),
            ("scalpel.edit.objective", .string(options.objective)),
            ("scalpel.edit.write_mode", .string(options.mode.rawValue)),
            (EditedCheckpoint.neuronsKey, .string(EditedCheckpoint.encode(chosen))),
            ("scalpel.version", .string(ScalpelBuild.version)),
        ] + (float32Accuracy.map { [(EditedCheckpoint.float32AccuracyKey, GGUFValue.float64($0))] } ?? []),
        to: url)
        return tokenizer
    }

    /// The same edit for PyTorch users: the family's Hugging Face names, layouts and config.json, with
    /// the base folder's tokenizer files, or a GGUF's vocabulary (byte-level BPE or SentencePiece)
    /// written as tokenizer.json. Returns `edit/hf`, or nil when skipped.
    /// It is written in Float32 from memory, so a GGUF model beyond `huggingFaceExportLimitBytes` skips it
    /// (and an earlier run's export, being of another edit, is removed).
    func writeHuggingFaceExport(_ model: DecoderModel, chosen: [Intervention.Neuron], baseHash: String,
                                baseIsGGUF: Bool, tokenizer: GGUFTokenizer?, stage: URL, staged: StagedOutputs,
                                quiet: Bool) throws -> URL? {
        let export = stage.appendingPathComponent("hf")
        let exportBytes = model.parameters.values.reduce(0) { $0 + 4 * $1.shape.reduce(1, *) }
        guard exportBytes <= huggingFaceExportLimitBytes || !baseIsGGUF else {
            try? FileManager.default.removeItem(at: export)      // an earlier run's export is of another edit
            if !quiet {
                let gigabytes = Double(exportBytes) / 1e9
                ProgressReporter.say(String(format: "edit: no Hugging Face export: in Float32 it would take "
                                            + "%.1f GB of memory. "
                                            + "Load edit/edited.gguf in PyTorch with transformers' gguf_file= instead",
                                            gigabytes))
            }
            return nil
        }
        let exportURL = staged.url(export.lastPathComponent)
        try model.exportHuggingFace(to: exportURL,
                                    metadata: [EditedCheckpoint.neuronsKey: EditedCheckpoint.encode(chosen),
                                               "scalpel.edit.base_sha256": baseHash,
                                               "scalpel.edit.recipe_sha256": SHA256.hex(experiment.recipe.text)],
                                    tokenIDs: tokenizer?.ids ?? [:])
        if !baseIsGGUF { try HuggingFaceExport.copyTokenizerFiles(from: experiment.modelPath, to: exportURL) }
        for (name, data) in tokenizer?.files ?? [:] {
            try AtomicFile.write(data, to: exportURL.appendingPathComponent(name))
        }
        return export
    }

    /// Writes `/edit`: what was done (objective, selection, write mode, files), the sizes trained, the
    /// learning rate and KL weight, then the neurons and the per-step loss and KL penalty.
    func archiveWriter(_ result: Result, options: Options) -> (HDF5Group) throws -> Void {
        { group in
            try group.setAttribute("objective", .string(result.objective))
            try group.setAttribute("selection",
                                   .string(options.randomControl ? "random (matched per-layer counts)" : "top"))
            try group.setAttribute("write_mode", .string(result.mode))
            try group.setAttribute("checkpoint", .string(result.checkpoint))
            if let hf = result.huggingFace { try group.setAttribute("huggingface_export", .string(hf)) }
            if let accuracy = result.float32Accuracy {
                try group.setAttribute("float32_test_accuracy", .double(accuracy))
            }
            try group.setAttribute("trainable_weights", .int(Int64(result.trainableWeights)))
            try group.setAttribute("optimizer_state_floats", .int(Int64(result.optimizerStateFloats)))
            try group.setAttribute("learning_rate", .double(Double(options.learningRate)))
            try group.setAttribute("kl_weight", .double(options.klWeight))
            try group.writeNeurons("neurons", result.neurons)
            try group.write("loss", result.losses, shape: [result.losses.count])
            try group.write("kl_penalty", result.klPenalties, shape: [result.klPenalties.count])
        }
    }

    /// The edited checkpoint a run's edit wrote: `edit/edited.gguf` for a GGUF base, `edit/hf` for a folder.
    public static func editedCheckpoint(in folder: RunFolder) -> URL? {
        let stage = folder.url.appendingPathComponent("edit")
        return ["edited.gguf", "hf"].map { stage.appendingPathComponent($0) }
            .first { FileManager.default.fileExists(atPath: $0.path) }
    }

    /// A finished edit, read back from the archive's `/edit` group.
    public static func load(_ url: URL, seconds: Double) throws -> Result {
        let file = try EvidenceArchive.open(url)
        let group = try file.root.group("edit")
        guard case .string(let objective) = try group.attribute("objective"),
              case .string(let mode) = try group.attribute("write_mode"),
              case .string(let checkpoint) = try group.attribute("checkpoint"),
              case .int(let trainable) = try group.attribute("trainable_weights"),
              case .int(let state) = try group.attribute("optimizer_state_floats") else {
            throw CollectError.corruptStore(path: url.path, detail: "/edit is incomplete")
        }
        var huggingFace: String?
        if case .string(let hf)? = try? group.attribute("huggingface_export") { huggingFace = hf }
        var float32Accuracy: Double?
        if case .double(let accuracy)? = try? group.attribute("float32_test_accuracy") { float32Accuracy = accuracy }
        let neurons = try group.readNeurons("neurons", path: url.path)
        return Result(neurons: neurons, objective: objective, losses: try group.read("loss", as: Double.self).values,
                      klPenalties: try group.read("kl_penalty", as: Double.self).values, checkpoint: checkpoint,
                      huggingFace: huggingFace,
                      mode: mode, trainableWeights: Int(trainable), optimizerStateFloats: Int(state),
                      float32Accuracy: float32Accuracy,
                      seconds: seconds)
    }

    /// metric_suppression: the mean squared distance of the suppressed neurons' last-token activations from
    /// `target`, plus `task_weight` × the task's cross-entropy so that the skill itself is kept.
    func suppressionLoss(task: PromptTask, examples: [Example], suppressed: [Intervention.Neuron],
                         options: Options) throws -> Variable {
        final class Sites: @unchecked Sendable { var byLayer: [Int: Variable] = [:] }
        let sites = Sites()
        var hooks = HookSet()
        let byLayer = Dictionary(grouping: suppressed, by: \.layer)
        for layer in byLayer.keys { hooks.add(HookName.mlpSite(layer), .capture { sites.byLayer[layer] = $0 }) }
        let sequences = examples.map { task.ids($0.text) }
        let logits = try task.logits(sequences, prompt: nil, hooks: hooks)
        let lastRows = task.batch(sequences, promptLength: 0).lastRows
        var total: Variable?
        for (layer, neurons) in byLayer {
            let values = selectColumns(gatherRows(sites.byLayer[layer]!, lastRows), neurons.map(\.neuron))   // [B, k]
            let shifted = options.target == 0 ? values : add(values, Variable(Tensor(
                shape: values.shape, scalars: [Float](repeating: Float(-options.target), count: values.value.count))))
            let squares = sum(multiply(shifted, shifted))
            total = total.map { add($0, squares) } ?? squares
        }
        var loss = scale(total!, by: 1 / Float(examples.count * suppressed.count))
        if options.taskWeight > 0 {
            loss = add(loss, scale(crossEntropy(logits, targets: examples.map { Int32($0.label!) }),
                                   by: Float(options.taskWeight)))
        }
        return loss
    }

    /// Mean over pairs of (log p(a) − log p(b))², each sentence scored by the sum of its tokens' log-probabilities.
    func pairPreferenceLoss(_ model: DecoderModel, tokenizer: any Tokenizer,
                            pairs: [([TextPart], [TextPart])]) throws -> Variable {
        var total: Variable?
        for (a, b) in pairs {
            let ids = [a, b].map { tokenizer.encodeSentence($0) }
            let batch = TokenBatch(ids)
            let logits = model.forward(embeddings: try model.embed(batch), batch: batch).logits!
            func logProbability(_ s: Int) -> Variable {
                var targets = [Int32](repeating: -1, count: batch.rows)
                for t in 0..<(ids[s].count - 1) { targets[s * batch.length + t] = ids[s][t + 1] }
                return scale(crossEntropy(logits, targets: targets), by: -Float(ids[s].count - 1))   // sum of log-probs
            }
            let difference = add(logProbability(0), scale(logProbability(1), by: -1))
            let squared = multiply(difference, difference)
            total = total.map { add($0, squared) } ?? squared
        }
        return scale(total!, by: 1 / Float(pairs.count))
    }
}
