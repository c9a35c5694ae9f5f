import ArgumentParser
import Foundation
import Scalpel

/// Greedy decoding in each precision, one after the other in one process, with the fidelity of each
/// against fp32 beside its speed: every precision decodes fp32's tokens (teacher-forced), so the logits
/// of every step compare position by position (max |Δ|, mean KL(fp32 ‖ precision), top-1 agreement).
struct DecodeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decoding tokens/s per precision, with the logits' distance from fp32."
    )

    @Option(help: "Checkpoint path or alias (a decoder).") var model = "gemma3"
    @Option(parsing: .unconditional, help: "The prompt.") var prompt = "The history of the city begins"
    @Option(parsing: .unconditional, help: "Decoding steps timed (after the prompt's pass).") var tokens = 32
    @Option(help: "Precisions, comma-separated; fp32 always runs first, as the reference.") var precisions = "fp32,int8"
    @Flag(help: "Print JSON.") var json = false

    func chosen() throws -> [Precision] { try Precision.againstFloat32(precisions) }

    func validate() throws {
        _ = try chosen()
        try Bounds.atLeast(2, atMost: .value(4096)).check("tokens", tokens)
    }

    func run() throws {
        let loaded = try ModelLoader.load(model)
        guard case .decoder(let llama) = loaded.model else { throw ValidationError("bench decode needs a decoder") }
        let ids = loaded.tokenizer.encode([TextPart(prompt, parsesSpecial: false)], addSpecialTokens: true)
        var reference: (tokens: [Int32], logits: [[Float]])?
        var results: [[String: Any]] = []
        for precision in try chosen() {
            Output.progress("bench decode: \(precision.rawValue), \(tokens) steps…")
            let run = try Precision.$current.withValue(precision) {
                try decode(llama, prompt: ids, forcing: reference?.tokens)
            }
            if reference == nil { reference = (run.tokens, run.logits) }
            var row: [String: Any] = ["precision": precision.rawValue, "decode_tokens_per_second": run.rate]
            row.merge(logitFidelity(reference!.logits, run.logits)) { a, _ in a }
            results.append(row)
        }
        let base = results[0]["decode_tokens_per_second"] as! Double
        for i in results.indices {
            results[i]["over_fp32"] = (results[i]["decode_tokens_per_second"] as! Double) / base
        }
        if json {
            Output.printJSON(["benchmark": "decode", "model": modelRecord(loaded), "steps": tokens,
                              "kernels": KernelPath.record, "cores": Parallelism.cores,
                              "peak_rss_mb": MachineMemory.peakResidentMegabytes, "results": results])
            return
        }
        print("greedy decoding, \(tokens) steps, kernel path \(KernelPath.current.rawValue); logits against fp32's")
        print("precision   tok/s   × fp32   max |Δ logit|   mean KL (nats)   top-1 agreement")
        for r in results {
            print(String(format: "%-9@ %7.2f   %6.2f   %13.4f   %14.2e   %15.3f", r["precision"] as! String as NSString,
                         r["decode_tokens_per_second"] as! Double, r["over_fp32"] as! Double,
                         r["max_abs_logit_difference"] as! Double, r["mean_kl"] as! Double,
                         r["top1_agreement"] as! Double))
        }
    }

    /// The prompt's pass, then `tokens` steps: greedy, or the tokens given. Times the steps alone.
    private func decode(_ llama: DecoderModel, prompt: [Int32], forcing: [Int32]?) throws
        -> (tokens: [Int32], logits: [[Float]], rate: Double) {
        let cache = KVCache(layers: llama.config.layers)
        var logits = [try llama.step(prompt, cache: cache)]
        var chosen: [Int32] = []
        let start = Date()
        for i in 0..<tokens {
            let next = forcing?[i] ?? Int32(logits[i].indices.max { logits[i][$0] < logits[i][$1] }!)
            chosen.append(next)
            logits.append(try llama.step([next], cache: cache))
        }
        return (chosen, logits, Double(tokens) / Date().timeIntervalSince(start))
    }
}
