import ArgumentParser
import Foundation
import Scalpel

/// Products alone: one vector (a decoding step's) or a batch of them (a forward pass's) through a 7B
/// model's weight shapes, in GGUF blocks of synthetic weights (SyntheticModel's, standard deviation
/// about 0.02), on every kernel path this processor runs, in Float32 (weights decoded in registers, or a
/// panel at a time for sgemm), in int8 (activations quantized per 32) and, where the avx512bf16 kernels
/// run, in bf16, beside each other in one run; with each precision's distance from the Float32 results,
/// so that nobody reads the speed without the fidelity.
struct KernelBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Products in GGUF blocks per kernel path and precision, with their fidelity."
    )

    @Option(parsing: .unconditional, help: "Minimum seconds to time each measurement.") var minSeconds = 1.0
    @Option(help: "Block types, comma-separated, of those a synthetic model has (q4_K, q6_K, q8_0).")
    var types = "q4_K,q6_K,q8_0"
    @Option(parsing: .unconditional, help: "Vectors per product: 1 is a decoding step, 512 a batch of 8 × 64.")
    var vectors = 1
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
        try Bounds.atLeast(1, atMost: .value(4096)).check("vectors", vectors)
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
                              "vectors": vectors, "results": results])
            return
        }
        let unit = vectors == 1 ? "GB/s" : "GMAC/s", key = vectors == 1 ? "gb_per_second" : "gmac_per_second"
        print("\(vectors) vector\(vectors == 1 ? "" : "s") through W in GGUF blocks; " +
              (vectors == 1 ? "GB/s of W read" : "GMAC/s") + "; each precision's max |Δ| relative to max |y| (fp32)")
        print("type   shape                       path        precision  fp32 \(unit)  its \(unit)  × fp32   max |Δ|/max|y|")
        for r in results {
            for precision in Precision.allCases where precision != .fp32 {
                let p = precision.rawValue
                guard let rate = r["\(p)_" + key] as? Double else { continue }
                print(String(format: "%-6@ %-27@ %-11@ %-9@ %9.2f  %9.2f  %6.2f   %.2e", r["type"] as! String as NSString,
                             r["shape"] as! String as NSString, r["path"] as! String as NSString, p as NSString,
                             r["fp32_" + key] as! Double, rate, r["\(p)_over_fp32"] as! Double,
                             r["\(p)_max_relative_difference"] as! Double))
            }
        }
    }

    /// Every precision on every path this processor runs (bf16 on the path that has its kernels).
    private func measure(_ type: GGMLType, rows: Int, width: Int) throws -> [[String: Any]] {
        var generator = SeededRandom(seed: 1)
        let blocks = SyntheticModel.randomBlocks(type, elements: rows * width, rng: &generator)
        var rng = SeededRandom(seed: 2)
        let x = Tensor(randomNormal: [vectors, width], using: &rng)
        let bytes = Double(blocks.count), macs = Double(rows * width * vectors)
        return try blocks.withUnsafeBytes { raw -> [[String: Any]] in
            let rowBytes = blocks.count / rows
            let encoded = EncodedBlocks(type: Int32(type.rawValue), base: raw.baseAddress!, rowBytes: rowBytes)!
            let base = UncheckedBase(raw.baseAddress!)
            let decode: PanelDecoder = { rows, columns, out, ld in     // as GGUFMatrix decodes a panel for sgemm
                let offset = columns.lowerBound / type.blockSize * type.blockBytes
                for r in rows {
                    dequantizeElements(type, from: base.pointer + r * rowBytes + offset, count: columns.count,
                                       into: out + (r - rows.lowerBound) * ld)
                }
            }
            var measured: [[String: Any]] = []
            for path in KernelPath.allCases where path.missing == nil {
                try KernelPath.choose(path)
                var outputs: [Precision: [Float]] = [:], times: [Precision: Double] = [:]
                // bf16 on the path with its kernels only: elsewhere it is the scalar reference, or refused.
                for precision in Precision.allCases where precision != .bf16 || path == .avx512bf16 {
                    var y = [Float](repeating: 0, count: rows * vectors)
                    let seconds = Precision.$current.withValue(precision) {
                        x.withPointer { input in
                            y.withUnsafeMutableBufferPointer { out in
                                bestSeconds(minimumSeconds: minSeconds) {
                                    panelLinearForward(output: out.baseAddress!, input: input,
                                                       weight: .decoded(decode, blocks: encoded), bias: nil,
                                                       rows: vectors, inFeatures: width, outFeatures: rows)
                                }
                            }
                        }
                    }
                    outputs[precision] = y
                    times[precision] = seconds
                }
                let reference = outputs[.fp32]!, scale = reference.map(abs).max() ?? 1
                var row: [String: Any] = ["path": path.rawValue]
                for (precision, seconds) in times {
                    let p = precision.rawValue
                    row["\(p)_gb_per_second"] = bytes / seconds / 1e9
                    row["\(p)_gmac_per_second"] = macs / seconds / 1e9
                    guard precision != .fp32 else { continue }
                    let difference = zip(reference, outputs[precision]!).map { abs($0 - $1) }.max() ?? 0
                    row["\(p)_over_fp32"] = times[.fp32]! / seconds
                    row["\(p)_max_relative_difference"] = Double(difference / max(scale, .leastNormalMagnitude))
                }
                measured.append(row)
            }
            return measured
        }
    }
}

/// A base address carried into a Sendable decoder (the blocks outlive every product that reads them).
private struct UncheckedBase: @unchecked Sendable {
    let pointer: UnsafeRawPointer
    init(_ pointer: UnsafeRawPointer) { self.pointer = pointer }
}
