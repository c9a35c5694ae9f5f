import ArgumentParser
import Foundation
import Scalpel

/// sgemm GFLOP/s through OpenBLAS on SmolLM2's shapes, beside the naive triple loop.
///
/// The shapes are a batch of 512 rows through SmolLM2's FFN up/gate (576 → 1536), FFN down (1536 → 576)
/// and tied lm_head (576 → 49152) projections, in the layout `linear` uses: x[M, K] · W[N, K]ᵀ.
/// The naive loop is timed on the first `--naive-rows` rows only (its rate does not depend on M), so the
/// whole benchmark stays within seconds.
struct MatMulBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "matmul",
        abstract: "sgemm GFLOP/s on SmolLM2's shapes vs a naive loop."
    )

    @Option(parsing: .unconditional, help: "Rows of each product the naive baseline computes.") var naiveRows = 16
    @Option(parsing: .unconditional, help: "Minimum seconds to time each measurement.") var minSeconds = 1.0
    @Option(help: "Bench only the shapes whose name starts with this (ffn_up, ffn_down, lm_head).") var only: String?
    @Flag(help: "Print the results as JSON.") var json = false

    func validate() throws {
        if let only, !Self.shapes.contains(where: { $0.name.hasPrefix(only) }) {
            throw ValidationError("no shape named '\(only)'; choose ffn_up, ffn_down or lm_head")
        }
        try Bounds.atLeast(1, atMost: .value(512)).check("naive-rows", naiveRows)
        try Bounds.atLeast(0, atMost: .value(600)).check("min-seconds", minSeconds)
    }

    static let shapes: [(name: String, m: Int, k: Int, n: Int)] = [
        ("ffn_up (512x576 by 576x1536)", 512, 576, 1536),
        ("ffn_down (512x1536 by 1536x576)", 512, 1536, 576),
        ("lm_head (512x576 by 576x49152)", 512, 576, 49152),
    ]

    func run() throws {
        var rows: [[String: Any]] = []
        for shape in Self.shapes where only.map({ shape.name.hasPrefix($0) }) ?? true {
            Output.progress("bench matmul: \(shape.name)…")
            let result = measure(m: shape.m, k: shape.k, n: shape.n)
            rows.append([
                "shape": shape.name, "m": shape.m, "k": shape.k, "n": shape.n,
                "openblas_gflops": result.blas, "naive_gflops": result.naive, "speedup": result.blas / result.naive,
            ])
        }
        if json {
            Output.printJSON(["benchmark": "matmul", "naive_rows": naiveRows, "results": rows, "blas": BLASCore.record])
            return
        }
        print("sgemm, x[M,K]·W[N,K]ᵀ, Float32 (naive baseline on \(naiveRows) rows)")
        print("shape".padding(toLength: 34, withPad: " ", startingAt: 0) +
              "  OpenBLAS GFLOP/s   naive GFLOP/s   speedup")
        for row in rows {
            let name = (row["shape"] as! String).padding(toLength: 34, withPad: " ", startingAt: 0)
            print(name + String(format: "  %16.1f   %13.2f   %6.0fx", row["openblas_gflops"] as! Double,
                                row["naive_gflops"] as! Double, row["speedup"] as! Double))
        }
    }

    private func measure(m: Int, k: Int, n: Int) -> (blas: Double, naive: Double) {
        (sgemmRate(m: m, k: k, n: n, minimumSeconds: minSeconds),
         sgemmRate(m: m, k: k, n: n, minimumSeconds: minSeconds, naiveRows: naiveRows))
    }
}
