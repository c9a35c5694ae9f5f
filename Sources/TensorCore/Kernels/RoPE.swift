#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

// ----------------------------------------------------------------------------------------------------
// Rotary position embedding (Su et al. 2021).
//
// Each pair (a, b) of a head's first R channels turns by the angle p · θᵢ, θᵢ = base^(−2i/R):
//   y_a = x_a cos − x_b sin        y_b = x_a sin + x_b cos
// Backward turns the gradient back:  dx_a += dy_a cos + dy_b sin,  dx_b += −dy_a sin + dy_b cos.
//
// Two pairings exist in the wild:
//   - interleaved (GPT-J, llama.cpp's "normal" mode): pairs (2i, 2i+1)
//   - rotate-half (GPT-NeoX, Hugging Face Llama/Gemma): pairs (i, i + R/2)
// The angle is formed as in Hugging Face: θᵢ rounded to Float32, then p · θᵢ in Float32, and only then
// cos/sin, so that long contexts agree with the reference to the last bit it can show.

public enum RoPELayout: String, Sendable, Codable, CaseIterable {
    case interleaved
    case rotateHalf = "rotate_half"
}

/// cos and sin of every (position, pair) angle, computed once per forward and shared by Q and K.
public struct RoPETable: Sendable {
    public let rotaryDims: Int        // R, even
    public let positions: [Int]       // [N]
    public let cos: [Float]           // [N, R/2]
    public let sin: [Float]           // [N, R/2]

    public init(positions: [Int], rotaryDims: Int, base: Double) {
        precondition(rotaryDims % 2 == 0 && rotaryDims > 0,
                     "RoPE: rotary width \(rotaryDims) must be even and positive")
        let inverseFrequencies: [Float] = (0..<(rotaryDims / 2)).map {
            Float(1 / pow(base, Double(2 * $0) / Double(rotaryDims)))
        }
        self.init(positions: positions, inverseFrequencies: inverseFrequencies)
    }

    /// The table for given inverse frequencies θᵢ, one per pair (scaled RoPE variants compute their own). [R/2]
    public init(positions: [Int], inverseFrequencies: [Float]) {
        precondition(!inverseFrequencies.isEmpty, "RoPE: no rotary pairs")
        let half = inverseFrequencies.count
        var cosines = [Float](repeating: 0, count: positions.count * half)
        var sines = cosines
        for (n, p) in positions.enumerated() {
            for i in 0..<half {
                let angle = Double(Float(p) * inverseFrequencies[i])
                cosines[n * half + i] = Float(Foundation_cos(angle))
                sines[n * half + i] = Float(Foundation_sin(angle))
            }
        }
        self.rotaryDims = 2 * half
        self.positions = positions
        self.cos = cosines
        self.sin = sines
    }
}

@inline(__always) private func Foundation_cos(_ x: Double) -> Double { cos(x) }
@inline(__always) private func Foundation_sin(_ x: Double) -> Double { sin(x) }

/// Rotates every head of every row. Channels past R pass through unchanged.
/// - output, input: [N, H, D] (output may equal input); table: N positions
public func ropeForward(_ layout: RoPELayout, output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
                        table: RoPETable, heads h: Int, headDim d: Int) {
    rotate(layout, output, input, table, h, d, direction: 1, accumulate: false)
}

/// - dInput, dOutput: [N, H, D]
public func ropeBackward(_ layout: RoPELayout, dInput: UnsafeMutablePointer<Float>, dOutput: UnsafePointer<Float>,
                         table: RoPETable, heads h: Int, headDim d: Int) {
    rotate(layout, dInput, dOutput, table, h, d, direction: -1, accumulate: true)
}

/// y = R(±θ)·x, or y += R(±θ)·x when accumulating (the backward adds into the input gradient).
private func rotate(_ layout: RoPELayout, _ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                    _ table: RoPETable, _ h: Int, _ d: Int, direction: Float, accumulate: Bool) {
    let r = table.rotaryDims, half = r / 2
    precondition(r <= d, "RoPE: rotary width \(r) exceeds head width \(d)")
    table.cos.withUnsafeBufferPointer { cosines in
        table.sin.withUnsafeBufferPointer { sines in
            parallelChunks(table.positions.count,
                           minimumPerChunk: max(1, 4096 / max(h * d, 1))) { rows in for n in rows {
                for head in 0..<h {
                    let base = (n * h + head) * d
                    for i in 0..<half {
                        let (a, b) = layout == .interleaved ? (2 * i, 2 * i + 1) : (i, i + half)
                        let c = cosines[n * half + i], s = direction * sines[n * half + i]
                        let xa = x[base + a], xb = x[base + b]
                        if accumulate {
                            y[base + a] += xa * c - xb * s
                            y[base + b] += xa * s + xb * c
                        } else {
                            y[base + a] = xa * c - xb * s
                            y[base + b] = xa * s + xb * c
                        }
                    }
                    if r < d && (accumulate || UnsafePointer(y) != x) {
                        for j in r..<d { y[base + j] = (accumulate ? y[base + j] : 0) + x[base + j] }
                    }
                }
            } }
        }
    }
}
