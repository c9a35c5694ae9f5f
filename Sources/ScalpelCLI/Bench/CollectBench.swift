import ArgumentParser
import Foundation
import Scalpel

/// Collection tokens/s at batch × length: every layer's FFN site recorded at every token and folded into
/// the streaming co-moments (per layer, against four metrics), with logits only at each sequence's last
/// token, as collection needs. The baseline, measured in the same run, is the bare forward pass with no
/// hooks and no logits; `--store` adds writing every recorded row to an HDF5 activation store.
struct CollectBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collect",
        abstract: "Collection tokens/s: FFN sites of all layers recorded and streamed into statistics."
    )

    @Option(help: "Checkpoint path or alias.") var model = "smollm2"
    @Option(parsing: .unconditional, help: "Sequences per batch.") var batch = 8
    @Option(parsing: .unconditional, help: "Tokens per sequence.") var length = 64
    @Option(parsing: .unconditional, help: "Timed batches per variant (after one warm-up).") var repeats = 3
    @Flag(help: "Also time writing every recorded row to an HDF5 store (in a temporary folder).") var store = false
    @Option(help: "The products' precision: fp32, int8 or bf16 (bench precision compares them on a recipe).")
    var precision = "fp32"
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        try Bounds.batch.check("batch", batch)
        try Bounds.tokens.check("length", length)
        try Bounds.repeats.check("repeats", repeats)
    }

    func run() throws {
        try Precision.$current.withValue(try Precision.named(precision)) { try measure() }
    }

    func measure() throws {
        let loaded = try ModelLoader.load(model)
        guard case .decoder(let llama) = loaded.model else { throw ValidationError("bench collect needs a decoder") }
        let c = llama.config
        var rng = SeededRandom(seed: 1)
        let sequences = (0..<batch).map { _ in (0..<length).map { _ in Int32(rng.nextInt(below: c.vocabularySize)) } }
        let tokenBatch = TokenBatch(sequences)
        let rows = batch * length, metrics = 4
        let y = (0..<(rows * metrics)).map { _ in rng.nextGaussian() }
        let tokens = Double(rows)

        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("scalpel-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        final class State: @unchecked Sendable {
            var moments: [CoMoments]
            var sites: [Tensor?]
            init(layers: Int, width: Int, metrics: Int) {
                moments = (0..<layers).map { _ in CoMoments(columns: width, metrics: metrics) }
                sites = [Tensor?](repeating: nil, count: layers)
            }
        }
        var results: [[String: Any]] = []
        var baseline = 0.0
        let variants = ["forward (baseline)", "collect"] + (store ? ["collect + store"] : [])
        for name in variants {
            let state = State(layers: c.layers, width: c.intermediateSize, metrics: metrics)
            var hooks = HookSet()
            if name != variants[0] {
                for l in 0..<c.layers { hooks.collect(HookName.mlpSite(l)) { state.sites[l] = $0 } }
            }
            var seconds = 0.0
            let pass = { (writer: ActivationStoreWriter?) throws in
                _ = llama.forward(embeddings: try llama.embed(tokenBatch), batch: tokenBatch, hooks: hooks,
                                  logitRows: name == variants[0] ? [] : tokenBatch.lastRows)
                guard name != variants[0] else { return }
                for l in 0..<c.layers { state.moments[l].add(x: state.sites[l]!.scalars, y: y, rows: rows) }
                if let writer {
                    // The store's layout: one [rows, layers × F] matrix, so the layers are interleaved per row.
                    var matrix = [Float](repeating: 0, count: rows * c.layers * c.intermediateSize)
                    let f = c.intermediateSize, width = c.layers * f
                    for l in 0..<c.layers {
                        let site = state.sites[l]!.scalars
                        for r in 0..<rows { for i in 0..<f { matrix[r * width + l * f + i] = site[r * f + i] } }
                    }
                    try writer.append(activations: [matrix], metrics: Array(y), indices: Array(0..<rows), split: 0)
                }
            }
            Output.progress("bench collect: \(name)…")
            if name == "collect + store" {
                let header = ActivationStore.Header(layers: Array(0..<c.layers), neuronsPerLayer: c.intermediateSize,
                                                    positions: ["every"],
                                                    metrics: ["m0", "m1", "m2", "m3"], provenance: [:])
                try HDF5File.create(at: directory.appendingPathComponent("store.h5")) { root in
                    let writer = try ActivationStoreWriter(root: root, header: header)
                    seconds = try bestSeconds(runs: repeats) { try pass(writer) }
                    try writer.finish(moments: [CoMoments(columns: header.columns, metrics: metrics)], shard: "all")
                }
            } else {
                seconds = try bestSeconds(runs: repeats) { try pass(nil) }
            }
            let rate = tokens / seconds
            if name == variants[0] { baseline = rate }
            results.append(["variant": name, "tokens_per_second": rate, "ratio_to_baseline": rate / baseline])
        }
        let peak = peakResidentMegabytes()
        if json {
            Output.printJSON(["benchmark": "collect", "model": model, "batch": batch, "length": length,
                              "precision": precision, "kernels": KernelPath.record,
                              "results": results, "blas": BLASCore.record, "peak_rss_mb": peak]
                .merging(modelRecord(loaded)) { a, _ in a })
            return
        }
        print("\(model) collection, batch \(batch) × \(length): FFN sites of all \(c.layers) layers " +
              "at every token, co-moments against \(metrics) metrics")
        for r in results {
            print(String(format: "%-19@ %8.0f tokens/s  %5.2f× the baseline",
                         r["variant"] as! String as NSString, r["tokens_per_second"] as! Double,
                         r["ratio_to_baseline"] as! Double))
        }
        print(String(format: "peak resident memory %.0f MB (tools/bench_pytorch.py measures PyTorch beside Scalpel)",
                     peak))
    }
}
