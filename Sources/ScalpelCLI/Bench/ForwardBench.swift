import ArgumentParser
import Foundation
import Scalpel
#if canImport(Glibc)
import Glibc
#endif

/// SmolLM2 forward tokens/s at batch × length with every layer's FFN site recorded, beside the sgemm
/// rate measured in the same run, as the achieved fraction of it; plus peak resident memory.
struct ForwardBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "forward", abstract: "Model forward tokens/s with FFN sites recorded.")

    @Option(help: "Checkpoint path or alias.") var model = "smollm2"
    @Option(parsing: .unconditional, help: "Sequences per batch.") var batch = 8
    @Option(parsing: .unconditional, help: "Tokens per sequence.") var length = 64
    @Option(parsing: .unconditional, help: "Timed batches per variant (after one warm-up).") var repeats = 3
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        try Bounds.batch.check("batch", batch)
        try Bounds.tokens.check("length", length)
        try Bounds.repeats.check("repeats", repeats)
    }

    func run() throws {
        let loaded = try ModelLoader.load(model)
        guard case .decoder(let llama) = loaded.model else { throw ValidationError("bench forward needs a decoder") }
        let c = llama.config
        var rng = SeededRandom(seed: 1)
        let sequences = (0..<batch).map { _ in (0..<length).map { _ in Int32(rng.nextInt(below: c.vocabularySize)) } }
        let tokenBatch = TokenBatch(sequences)
        let tokens = Double(batch * length)

        // FLOPs per token: 2 × (attention and FFN weights), and 2 × V × C more for the LM head.
        let perLayer = 2 * c.hiddenSize * (2 * c.heads * c.headDim + 2 * c.kvHeads * c.headDim) + 6 * c.hiddenSize * c.intermediateSize
        let body = Double(c.layers * perLayer), head = Double(2 * c.vocabularySize * c.hiddenSize)
        let sgemmRate = sgemmRate(m: batch * length, k: c.hiddenSize, n: c.intermediateSize, minimumSeconds: 1)

        var results: [[String: Any]] = []
        // The third variant attaches no hook at all, so that the cost of the hook points themselves shows.
        for (name, rows, record) in [("all logits", nil, true), ("no logits", [Int](), true), ("no hooks", [Int](), false)] as [(String, [Int]?, Bool)] {
            // Every pass keeps all layers' sites ([B·T, F] each) alive, as a collector would.
            var recorded: [Tensor] = []
            var sites = 0
            var hooks = HookSet()
            if record { for l in 0..<c.layers { hooks.collect(HookName.mlpSite(l)) { recorded.append($0); sites += $0.count } } }
            let run = {
                recorded.removeAll()
                _ = llama.forward(embeddings: try! llama.embed(tokenBatch), batch: tokenBatch, hooks: hooks, logitRows: rows)
            }
            Output.progress("bench forward: \(name)…")
            let best = bestSeconds(runs: repeats, progress: { i, best in
                Output.progress("bench forward: \(name), run \(i)/\(repeats): best \(String(format: "%.2f", best)) s")
            }, run)
            let rate = tokens / best
            let flops = (rows == nil ? body + head : body) * rate / 1e9
            results.append(["variant": name, "tokens_per_second": rate, "gflops": flops, "fraction_of_sgemm": flops / sgemmRate,
                            "sites_recorded_per_pass": sites / (repeats + 1)])
        }
        let peak = peakResidentMegabytes()
        if json {
            Output.printJSON(["benchmark": "forward", "model": model, "batch": batch, "length": length, "sgemm_gflops": sgemmRate,
                              "gflop_per_token_with_head": (body + head) / 1e9, "gflop_per_token_without_head": body / 1e9,
                              "blas": BLASCore.record, "peak_rss_mb": peak, "results": results])
            return
        }
        print("\(model) forward, batch \(batch) × \(length), FFN sites of all \(c.layers) layers recorded")
        print(String(format: "sgemm rate in this run: %.1f GFLOP/s; %.3f GFLOP/token with the LM head, %.3f without", sgemmRate, (body + head) / 1e9, body / 1e9))
        for r in results {
            print(String(format: "%-11@ %8.0f tokens/s  %6.1f GFLOP/s  %4.0f%% of sgemm", r["variant"] as! String as NSString,
                         r["tokens_per_second"] as! Double, r["gflops"] as! Double, 100 * (r["fraction_of_sgemm"] as! Double)))
        }
        print(String(format: "peak resident memory: %.0f MB", peak))
    }
}

/// Peak resident set size of this process so far, in MB (getrusage's ru_maxrss is in KB on Linux).
func peakResidentMegabytes() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_maxrss) / 1024
}
