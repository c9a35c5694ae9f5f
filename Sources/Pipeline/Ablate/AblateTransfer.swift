import AtomicFiles
import Checkpoints
import Datasets
import Foundation
import Recipes
import TensorCore
import Training

// ----------------------------------------------------------------------------------------------------
// Transfer: ablating neurons on data they were not found on.
//
//   ablate.data           the examples evaluated: every example of that dataset (at most
//                         ablate.examples), instead of this recipe's test split
//   ablate.neurons_from   the run whose ranking, neuron statistics and soft prompt are used, instead
//                         of this run's; it must have ranked with the same model
//
// The task (template, verbalizers) stays this recipe's, so a transferred dataset's classes must be the
// task's classes, in the same order.
// ----------------------------------------------------------------------------------------------------

extension AblateStage {
    /// Where the sweep's neurons and examples come from.
    struct Transfer {
        /// `ablate.data`, when the examples come from another dataset.
        var data: DatasetSpec?
        /// `ablate.neurons_from`, when the neurons come from another run: its folder's path (a string,
        /// so that the options' hash does not depend on the file system).
        var runPath: String?

        var run: URL? { runPath.map { URL(fileURLWithPath: $0) } }
    }

    /// `ablate.data` and `ablate.neurons_from`, checked as far as the recipe and the files allow.
    func transfer(_ problems: inout RecipeProblems) -> Transfer {
        let r = experiment.recipe
        var sources = Transfer()
        if r.node("ablate.data") != nil { sources.data = experiment.otherDataset("ablate.data", &problems) }
        if let path = r.string("ablate.neurons_from") {
            let url = URL(fileURLWithPath: Experiment.resolve(path, root: experiment.root))
            let run = url.pathExtension == "h5" ? url.deletingLastPathComponent() : url
            let others = r.stages.filter { $0 != "ablate" }
            if !others.isEmpty {
                problems.add("ablate.neurons_from", "the neurons, their statistics and the prompt come from " +
                             "\(run.path), which this recipe's \(others.joined(separator: ", ")) would not " +
                             "read; list only ablate in stages (edit that run instead)")
            }
            // Whether that run has finished its ranking is checked when the sweep reads it, as for
            // this run's own ranking: a recipe is valid before the run it reads exists.
            sources.runPath = run.standardizedFileURL.path
        }
        return sources
    }

    /// The examples the sweep evaluates: the transfer dataset's, or the test split's (at most
    /// `ablate.examples`).
    func evaluationExamples(_ options: Options) throws -> [Example] {
        if let spec = options.transfer.data {
            return try Experiment.sample(spec, at: options.examples, seed: seed(.transferSample))
        }
        return try testSplit(options).map { experiment.dataset.examples[$0] }
    }

    /// The task, and the soft prompt of the run the neurons come from (none if it tuned none).
    func taskAndPrompt(_ options: Options) throws -> (task: PromptTask, prompt: Tensor?) {
        let stage = PromptStage(experiment: experiment, folder: folder)
        guard let run = options.transfer.run else { return try stage.trained(orUntuned: true) }
        let task = try stage.makeTask()
        let file = RunFolder(unchecked: run).promptFile
        guard FileManager.default.fileExists(atPath: file.path) else { return (task, nil) }
        // The prompt's length is that run's recipe's.
        let recipe = try Self.provenance(of: run).recipe
        return (task, try PromptStage.readPrompt(file, length: recipe.prompt.length, into: task))
    }

    /// What another run's archive says made it: its recipe and its model's sha256.
    static func provenance(of run: URL) throws -> (recipe: Recipe, modelSHA256: String) {
        let url = run.appendingPathComponent("evidence.h5")
        let archive = try EvidenceArchive.open(url)   // kept open while its group is read
        let provenance = try archive.root.group("provenance")
        guard case .string(let text) = try provenance.attribute("recipe_text"),
              case .string(let sha) = try provenance.attribute("model_sha256") else {
            throw CollectError.corruptStore(path: url.path, detail: "its /provenance lacks the recipe or the " +
                                            "model's sha256; rank that run again")
        }
        return (try Recipe(text: text, file: url.path + "#/provenance/recipe_text"), sha)
    }

    /// Refuses neurons ranked on another model: their indices would name other neurons.
    func checkSameModel(_ run: URL) throws {
        let theirs = try Self.provenance(of: run).modelSHA256
        let ours = try SHA256.checkpoint(experiment.modelPath)
        guard theirs == ours else {
            throw CollectError.badPlan(path: experiment.recipeFile,
                                       detail: "ablate.neurons_from \(run.path) ranked another model " +
                                       "(sha256 \(theirs.prefix(12))…, this recipe's is \(ours.prefix(12))…); " +
                                       "point it at a run of \(experiment.recipe.model)")
        }
    }
}

extension Experiment {
    /// A transfer dataset (`ablate.data`, `audit.data`) as a spec, refused unless it loads with labels in
    /// the task's classes (answer tasks: unless it is empty).
    func otherDataset(_ section: String, _ problems: inout RecipeProblems) -> DatasetSpec? {
        let r = recipe, s = r.settings
        guard let loader = r.string("\(section).loader"), let format = DatasetSpec.Format(rawValue: loader),
              let path = r.string("\(section).path") else { return nil }   // the schema reported it
        var labels: [String: Int]?
        if let mapping = r.node("\(section).labels")?.mapping {
            labels = Dictionary(mapping.map { ($0.key.string ?? "", $0.value.int ?? 0) }) { first, _ in first }
        }
        let spec = DatasetSpec(format: format, path: Experiment.resolve(path, root: root),
                               textColumn: r.string("\(section).text"), labelColumn: r.string("\(section).label"),
                               labels: labels, skipIncomplete: s.node("\(section).skip_incomplete")?.bool ?? false,
                               limit: r.int("\(section).limit"))
        guard FileManager.default.fileExists(atPath: spec.path) else {
            problems.add("\(section).path", "\(spec.path) does not exist; run Scripts/fetch, or fix the path")
            return nil
        }
        do {
            let dataset = try DatasetLoader.load(spec)
            let classes = recipe.task.verbalizers?.count ?? self.dataset.classes.count
            if r.task.answer != nil || isLanguageModelling {
                // Answer tasks are graded against task.answer, filled from each example's fields; a
                // language-modelling task continues the texts.
                if dataset.examples.isEmpty { problems.add(section, "\(spec.path) has no examples") }
            } else if dataset.examples.contains(where: { $0.label == nil }) {
                problems.add(section, "\(spec.path) has examples without a label; name its label column")
            } else if let bad = dataset.examples.first(where: { !(0..<classes).contains($0.label!) }) {
                problems.add(section, "\(bad.source) row \(bad.row) has class \(bad.label!) but the task " +
                             "has \(classes) (0–\(classes - 1), in the order of task.verbalizers); map the " +
                             "dataset's labels onto them with \(section).labels")
            } else if dataset.examples.isEmpty {
                problems.add(section, "\(spec.path) has no examples")
            }
        } catch {
            problems.add(section, "\(error)")
        }
        return spec
    }

    /// The examples of `spec`, or a seeded sample of `cap` of them in file order: a file sorted by label
    /// must not give one class.
    static func sample(_ spec: DatasetSpec, at cap: Int?, seed: UInt64) throws -> [Example] {
        let examples = try DatasetLoader.load(spec).examples
        guard let cap, cap < examples.count else { return examples }
        var rng = SeededRandom(seed: seed)
        return rng.shuffled(Array(examples.indices)).prefix(cap).sorted().map { examples[$0] }
    }
}
