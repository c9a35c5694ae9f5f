import ArgumentParser
import Foundation
import Scalpel

/// A decoding step's products alone: one vector through a 7B model's weight shapes, in GGUF blocks of
/// synthetic weights (SyntheticModel's, standard deviation about 0.02), on every kernel path this
/// processor runs, in Float32 (weights decoded in registers) and in int8 (activations quantized per 32),
/// beside each other in one run; with the int8 results' distance from the Float32 ones, so that nobody
/// reads the speed without the fidelity.
struct KernelBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Row products (a decoding step's) per kernel path and precision, with their fidelity."
    )

    @Option(parsing: .unconditional, help: "Minimum seconds to time each measurement.") var minSeconds = 1.0
    @Option(help: "Block types, comma-separated, of those a synthetic model has (q4_K, q6_K, q8_0).")
    var types = "q4_K,q6_K,q8_0"
    @Flag(help: "Print the results as JSON.") var json = false

    static let shapes: [(name: String, rows: Int, width: Int)] = [
        ("attn (4096 x 4096)", 4096, 4096), ("ffn_up (11008 x 4096)", 11008, 4096),
        ("ffn_down (4096 x 11008)", 4096, 11008),
    ]

    func blockTypes() throws -> [GGMLType] {
        try types.split(separator: ",").map { name in
            guard let type = GGMLType.allCases.first(where: { $0.name.lowercased() == name.lowercased() }),
                  SyntheticModel.blockTypes.contains(type), Precision.int8Reads(ggmlType: Int32(type.rawValue)) else {
                throw ValidationError("--types: '\(name)' is not one of q4_K, q6_K, q8_0 (the block types of " +
                                      "synthetic models that the integer kernels read)")
            }
            return type
        }
    }

    func validate() throws {
        _ = try blockTypes()
        try Bounds.atLeast(0, atMost: .value(600)).check("min-seconds", minSeconds)
    }

    func run() throws {
        let start = KernelPath.current
        defer { try? KernelPath.choose(start) }
        var results: [[String: Any]] = []
        for type in try blockTypes() {
            for shape in Self.shapes {
                Output.progress("bench kernels: \(type) \(shape.name)…")
                let named: [String: Any] = ["type": "\(type)", "shape": shape.name]
                let rows = try measure(type, rows: shape.rows, width: shape.width)
                results += rows.map { named.merging($0) { a, _ in a } }
            }
        }
        if json {
            Output.printJSON(["benchmark": "kernels", "cores": Parallelism.cores, "kernels": KernelPath.record,
                              "results": results])
            return
        }
        print("one vector through W in GGUF blocks; GB/s of W read; int8's max |Δ| relative to max |y| (fp32)")
        print("type   shape                       path     fp32 GB/s   int8 GB/s   int8/fp32   max |Δ|/max|y|")
        for r in results {
            print(String(format: "%-6@ %-27@ %-8@ %9.2f   %9.2f   %9.2f   %.2e", r["type"] as! String,
                         r["shape"] as! String, r["path"] as! String, r["fp32_gb_per_second"] as! Double,
                         r["int8_gb_per_second"] as! Double, r["int8_over_fp32"] as! Double,
                         r["int8_max_relative_difference"] as! Double))
        }
    }

    /// Both precisions on every path this processor runs.
    private func measure(_ type: GGMLType, rows: Int, width: Int) throws -> [[String: Any]] {
        var generator = SeededRandom(seed: 1)
        let blocks = SyntheticModel.randomBlocks(type, elements: rows * width, rng: &generator)
        var rng = SeededRandom(seed: 2)
        let x = Tensor(randomNormal: [1, width], using: &rng)
        let bytes = Double(blocks.count)
        return try blocks.withUnsafeBytes { raw -> [[String: Any]] in
            let rowBytes = blocks.count / rows
            let encoded = EncodedBlocks(type: Int32(type.rawValue), base: raw.baseAddress!, rowBytes: rowBytes)!
            let decode: PanelDecoder = { _, _, _, _ in fatalError("row products read the blocks in place") }
            var measured: [[String: Any]] = []
            for path in KernelPath.allCases where path.missing == nil {
                try KernelPath.choose(path)
                var outputs: [Precision: [Float]] = [:], rates: [Precision: Double] = [:]
                for precision in Precision.allCases {
                    var y = [Float](repeating: 0, count: rows)
                    let seconds = Precision.$current.withValue(precision) {
                        x.withPointer { input in
                            y.withUnsafeMutableBufferPointer { out in
                                bestSeconds(minimumSeconds: minSeconds) {
                                    panelLinearForward(output: out.baseAddress!, input: input,
                                                       weight: .decoded(decode, blocks: encoded), bias: nil,
                                                       rows: 1, inFeatures: width, outFeatures: rows)
                                }
                            }
                        }
                    }
                    outputs[precision] = y
                    rates[precision] = bytes / seconds / 1e9
                }
                let reference = outputs[.fp32]!, quantized = outputs[.int8]!
                let scale = reference.map(abs).max() ?? 1
                let difference = zip(reference, quantized).map { abs($0 - $1) }.max() ?? 0
                measured.append(["path": path.rawValue, "fp32_gb_per_second": rates[.fp32]!,
                              "int8_gb_per_second": rates[.int8]!, "int8_over_fp32": rates[.int8]! / rates[.fp32]!,
                              "int8_max_relative_difference": Double(difference / max(scale, .leastNormalMagnitude))])
            }
            return measured
        }
    }
}
