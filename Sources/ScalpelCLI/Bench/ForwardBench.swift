import ArgumentParser
import Foundation
import Scalpel
#if canImport(Glibc)
import Glibc
#endif

/// SmolLM2 forward tokens/s at batch × length with every layer's FFN site recorded, beside the sgemm
/// rate measured in the same run, as the achieved fraction of it; plus peak resident memory.
struct ForwardBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Model forward tokens/s with FFN sites recorded."
    )

    @Option(help: "Checkpoint path or alias.") var model = "smollm2"
    @Option(parsing: .unconditional, help: "Sequences per batch.") var batch = 8
    @Option(parsing: .unconditional, help: "Tokens per sequence.") var length = 64
    @Option(parsing: .unconditional, help: "Timed batches per variant (after one warm-up).") var repeats = 3
    @Option(help: "Weights as stored in the file, decoded to float32 at load, or both in turn (same run).")
    var weights = "stored"
    @Option(help: "Run only this variant (all-logits, no-logits, no-hooks); repeatable. Default: all three.")
    var variant: [String] = []
    @Option(help: "The products' precision: fp32, int8 (weights in ggml blocks; others stay fp32) or bf16.")
    var precision = "fp32"
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        try Bounds.batch.check("batch", batch)
        try Bounds.tokens.check("length", length)
        try Bounds.repeats.check("repeats", repeats)
        _ = try weightStorages(weights)
        _ = try Precision.named(precision)
        for v in variant where !["all-logits", "no-logits", "no-hooks"].contains(v) {
            throw ValidationError("--variant is '\(v)'; it takes all-logits, no-logits or no-hooks")
        }
    }

    func run() throws {
        var runs: [[String: Any]] = []
        try Precision.$current.withValue(try Precision.named(precision)) {
            for storage in try weightStorages(weights) { runs.append(try measure(storage)) }
        }
        if json {
            Output.printJSON(runs.count == 1 ? runs[0] : ["benchmark": "forward", "runs": runs])
            return
        }
        for run in runs { printRun(run) }
    }

    func measure(_ storage: WeightStorage) throws -> [String: Any] {
        let loaded = try ModelLoader.load(model, storage: storage)
        guard case .decoder(let llama) = loaded.model else { throw ValidationError("bench forward needs a decoder") }
        let c = llama.config
        var rng = SeededRandom(seed: 1)
        let sequences = (0..<batch).map { _ in (0..<length).map { _ in Int32(rng.nextInt(below: c.vocabularySize)) } }
        let tokenBatch = TokenBatch(sequences)
        let tokens = Double(batch * length)

        // FLOPs per token: 2 × (attention and FFN weights), and 2 × V × C more for the LM head.
        let perLayer = 2 * c.hiddenSize * (2 * c.heads * c.headDim + 2 * c.kvHeads * c.headDim) +
            6 * c.hiddenSize * c.intermediateSize
        let body = Double(c.layers * perLayer), head = Double(2 * c.vocabularySize * c.hiddenSize)
        let sgemmRate = sgemmRate(m: batch * length, k: c.hiddenSize, n: c.intermediateSize, minimumSeconds: 1)

        var results: [[String: Any]] = []
        // The third variant attaches no hook at all, so that the cost of the hook points themselves shows.
        let all: [(String, [Int]?, Bool)] = [("all logits", nil, true), ("no logits", [], true),
                                             ("no hooks", [], false)]
        for (name, rows, record) in all
            where variant.isEmpty || variant.contains(name.replacingOccurrences(of: " ", with: "-")) {
            // Every pass keeps all layers' sites ([B·T, F] each) alive, as a collector would.
            var recorded: [Tensor] = []
            var sites = 0
            var hooks = HookSet()
            if record {
                for l in 0..<c.layers { hooks.collect(HookName.mlpSite(l)) { recorded.append($0); sites += $0.count } }
            }
            let run = {
                recorded.removeAll()
                _ = llama.forward(embeddings: try! llama.embed(tokenBatch), batch: tokenBatch, hooks: hooks,
                                  logitRows: rows)
            }
            Output.progress("bench forward: \(name)…")
            let best = bestSeconds(runs: repeats, progress: { i, best in
                Output.progress("bench forward: \(name), run \(i)/\(repeats): best \(String(format: "%.2f", best)) s")
            }, run)
            let rate = tokens / best
            let flops = (rows == nil ? body + head : body) * rate / 1e9
            results.append(["variant": name, "tokens_per_second": rate, "gflops": flops,
                            "fraction_of_sgemm": flops / sgemmRate, "sites_recorded_per_pass": sites / (repeats + 1)])
        }
        return ["benchmark": "forward", "model": model, "batch": batch, "length": length, "sgemm_gflops": sgemmRate,
                "layers": c.layers, "gflop_per_token_with_head": (body + head) / 1e9,
                "gflop_per_token_without_head": body / 1e9,
                "blas": BLASCore.record, "precision": precision, "kernels": KernelPath.record,
                "peak_rss_mb": peakResidentMegabytes(), "results": results]
            .merging(modelRecord(loaded)) { a, _ in a }
    }

    func printRun(_ r: [String: Any]) {
        print("\(model) forward, batch \(batch) × \(length), FFN sites of all \(r["layers"]!) layers recorded, " +
              "weights \(r["weights"]!), \(precision) products on the \(KernelPath.current.rawValue) kernels")
        print(String(format: "sgemm rate in this run: %.1f GFLOP/s; %.3f GFLOP/token with the LM head, %.3f without",
                     r["sgemm_gflops"] as! Double,
                     r["gflop_per_token_with_head"] as! Double, r["gflop_per_token_without_head"] as! Double))
        for v in r["results"] as! [[String: Any]] {
            print(String(format: "%-11@ %8.1f tokens/s  %6.1f GFLOP/s  %4.0f%% of sgemm",
                         v["variant"] as! String as NSString, v["tokens_per_second"] as! Double,
                         v["gflops"] as! Double, 100 * (v["fraction_of_sgemm"] as! Double)))
        }
        print(String(format: "model file: %.0f MB; peak resident memory so far: %.0f MB", r["model_file_mb"] as! Double,
                     r["peak_rss_mb"] as! Double))
    }
}

/// Peak resident set size of this process so far, in MB.
func peakResidentMegabytes() -> Double { MachineMemory.peakResidentMegabytes }
