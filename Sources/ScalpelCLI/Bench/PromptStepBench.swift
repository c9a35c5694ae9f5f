import ArgumentParser
import Foundation
import Scalpel

/// One soft-prompt training step (forward, backward to the prompt, AdamW) at batch × length tokens plus P
/// virtual tokens, in tokens/s, beside the forward alone on the same batch measured in the same run.
struct PromptStepBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prompt-step",
        abstract: "Soft-prompt training step tokens/s."
    )

    @Option(help: "Checkpoint path or alias.") var model = "smollm2"
    @Option(parsing: .unconditional, help: "Sequences per batch.") var batch = 8
    @Option(parsing: .unconditional, help: "Text tokens per sequence.") var length = 64
    @Option(parsing: .unconditional, help: "Virtual tokens.") var prompt = 16
    @Option(parsing: .unconditional, help: "Timed steps (after one warm-up).") var repeats = 3
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        try Bounds.batch.check("batch", batch)
        try Bounds.tokens.check("length", length)
        try Bounds.repeats.check("repeats", repeats)
        try Bounds.tokens.check("prompt", prompt)
    }

    func run() throws {
        let loaded = try ModelLoader.load(model)
        guard case .decoder(let llama) = loaded.model else {
            throw ValidationError("bench prompt-step needs a decoder")
        }
        var rng = SeededRandom(seed: 1)
        let sequences = (0..<batch).map { _ in
            (0..<length).map { _ in Int32(rng.nextInt(below: llama.config.vocabularySize)) }
        }
        let labels = (0..<batch).map { $0 % 2 }
        let task = PromptTask(model: loaded.model, tokenizer: loaded.tokenizer,
                              framing: .verbalizers(template: "{text}", ids: [3524, 2731]), classes: 2)
        let trainer = PromptTrainer(task: task, initialPrompt: Tensor(randomNormal: [prompt, llama.config.hiddenSize],
                                                                      std: 0.1, using: &rng),
                                    learningRate: 1e-3, weightDecay: 0)
        let tokens = Double(batch * (length + prompt))
        Output.progress("bench prompt-step: training steps…")
        let step = try bestSeconds(runs: repeats) { _ = try trainer.step(sequences, labels: labels) }
        Output.progress("bench prompt-step: forward only…")
        let forward = try bestSeconds(runs: repeats) {
            _ = try task.logits(sequences, prompt: Variable(trainer.prompt.value))
        }
        let result: [String: Any] = ["benchmark": "prompt-step", "batch": batch, "length": length,
                                     "virtual_tokens": prompt, "step_tokens_per_second": tokens / step,
                                     "forward_tokens_per_second": tokens / forward,
                                     "step_over_forward_time": step / forward, "blas": BLASCore.record,
                                     "peak_rss_mb": peakResidentMegabytes()]
            .merging(modelRecord(loaded)) { a, _ in a }
        if json { Output.printJSON(result); return }
        print("\(model) soft-prompt step, batch \(batch) × (\(length) + \(prompt) virtual) tokens")
        print(String(format: "training step: %7.0f tokens/s (%.2f s)", tokens / step, step))
        print(String(format: "forward only:  %7.0f tokens/s (%.2f s); a step costs %.1f forwards",
                     tokens / forward, forward, step / forward))
        print(String(format: "peak resident memory: %.0f MB", peakResidentMegabytes()))
    }
}
