import ArgumentParser
import Foundation
import Scalpel

/// One sparse-editing step (forward, next-token loss, backward into the selected neurons' packed slices
/// only, masked AdamW) at batch × length tokens with `neurons` neurons per layer, in tokens/s, beside the
/// forward alone on the same batch in the same run. No dense weight gradient is ever formed.
struct EditStepBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edit-step",
        abstract: "Sparse training step tokens/s (masked weight gradients)."
    )

    @Option(help: "Checkpoint path or alias.") var model = "smollm2"
    @Option(parsing: .unconditional, help: "Sequences per batch.") var batch = 8
    @Option(parsing: .unconditional, help: "Tokens per sequence.") var length = 64
    @Option(parsing: .unconditional, help: "Trainable neurons in every layer (drawn from the seed).") var neurons = 32
    @Option(parsing: .unconditional, help: "Timed steps (after one warm-up).") var repeats = 3
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        try Bounds.batch.check("batch", batch)
        try Bounds.tokens.check("length", length)
        try Bounds.repeats.check("repeats", repeats)
        try Bounds.atLeast(1, atMost: .ffnWidth).check("neurons", neurons)
    }

    func run() throws {
        // The shape first, from a model that is released before the trainable one loads.
        let (layers, width) = try {
            let probe = try ModelLoader.load(model)
            try Bounds.atLeast(1, atMost: .ffnWidth).check("neurons", neurons, limits: probe.limits)
            return (probe.model.layers, probe.model.ffnWidth)
        }()
        var rng = SeededRandom(seed: 1)
        var chosen: [Int: [Int]] = [:]
        for l in 0..<layers { chosen[l] = Array(rng.shuffled(Array(0..<width)).prefix(neurons)).sorted() }
        let loaded = try ModelLoader.load(model, trainableNeurons: NeuronSelection(chosen))
        guard case .decoder(let llama) = loaded.model else { throw ValidationError("bench edit-step needs a decoder") }
        let trainable = llama.parameters.values.filter { $0.mask != nil }
        let optimizer = AdamW(parameters: trainable, learningRate: 1e-4, weightDecay: 0.1)
        let sequences = (0..<batch).map { _ in
            (0..<length).map { _ in Int32(rng.nextInt(below: llama.config.vocabularySize)) }
        }
        let tokenBatch = TokenBatch(sequences)
        let tokens = Double(batch * length)
        Output.progress("bench edit-step: training steps…")
        let step = try bestSeconds(runs: repeats) {
            optimizer.zeroGradients()
            let loss = nextTokenLoss(
                logits: llama.forward(embeddings: try llama.embed(tokenBatch), batch: tokenBatch).logits!,
                batch: tokenBatch)
            loss.backward()
            optimizer.step()
        }
        Output.progress("bench edit-step: forward only…")
        let forward = try bestSeconds(runs: repeats) {
            _ = nextTokenLoss(
                logits: llama.forward(embeddings: try llama.embed(tokenBatch), batch: tokenBatch).logits!,
                batch: tokenBatch)
        }
        let weights = trainable.reduce(0) { $0 + $1.mask!.indices.count * $1.mask!.sliceLength }
        let ffnWeights = layers * 3 * width * llama.config.hiddenSize
        let result: [String: Any] = ["benchmark": "edit-step", "batch": batch, "length": length,
                                     "neurons_per_layer": neurons, "trainable_weights": weights,
                                     "fraction_of_ffn_weights": Double(weights) / Double(ffnWeights),
                                     "optimizer_state_floats": optimizer.stateElementCount,
                                     "step_tokens_per_second": tokens / step,
                                     "forward_tokens_per_second": tokens / forward,
                                     "step_over_forward_time": step / forward,
                                     "blas": BLASCore.record, "peak_rss_mb": peakResidentMegabytes()]
            .merging(modelRecord(loaded)) { a, _ in a }
        if json { Output.printJSON(result); return }
        print("""
            \(model) sparse edit step, batch \(batch) × \(length), \(neurons) neurons in each of \(layers) layers \
            (\(weights) weights, \(String(format: "%.2f", 100 * Double(weights) / Double(ffnWeights)))% of the FFN)
            """)
        print(String(format: "training step: %7.0f tokens/s (%.2f s); tools/bench_pytorch.py measures PyTorch beside it",
                     tokens / step, step))
        print(String(format: "forward only:  %7.0f tokens/s (%.2f s); a step costs %.1f forwards",
                     tokens / forward, forward, step / forward))
        print(String(format: "Adam state: %d floats; peak resident memory: %.0f MB", optimizer.stateElementCount,
                     peakResidentMegabytes()))
    }
}
