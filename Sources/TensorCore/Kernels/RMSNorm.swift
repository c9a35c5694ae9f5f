#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

// ----------------------------------------------------------------------------------------------------
// RMSNorm (Zhang & Sennrich 2019), as Llama and Gemma use it.
//
//   r = 1 / sqrt(mean(x²) + eps)         y = x · r · (w + offset)
//
// offset is 0 for Llama; Gemma stores w − 1 and scales by (1 + w), so offset = 1.
// Backward, with g = dy · (w + offset):
//   dx = r · g − r³ · x · mean(g · x)    dw += Σₙ dy · x · r

/// - output: [N, C]; input: [N, C]; weight: [C]; saving rstd: [N] for the backward
public func rmsNormForward(
    output: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
    input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    rows n: Int, channels c: Int, eps: Float, weightOffset: Float
) {
    parallelChunks(n, minimumPerChunk: max(1, 8192 / max(c, 1))) { rows in for r in rows {
        let x = input + r * c
        let y = output + r * c
        var sumSquares: Float = 0
        for j in 0..<c { sumSquares += x[j] * x[j] }
        let s = 1 / sqrtf(sumSquares / Float(c) + eps)
        rstd[r] = s
        for j in 0..<c { y[j] = x[j] * s * (weight[j] + weightOffset) }
    } }
}

/// - dInput: [N, C]; dWeight: [C]; dOutput: [N, C]; input: [N, C]; rstd: [N] from the forward
public func rmsNormBackward(
    dInput: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?,
    dOutput: UnsafePointer<Float>, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    rstd: UnsafePointer<Float>, rows n: Int, channels c: Int, weightOffset: Float
) {
    // Rows are independent for dInput; dWeight sums over rows, so it is accumulated serially (its order,
    // and hence its bits, never depend on the core count).
    if dWeight == nil, let dInput {
        parallelChunks(n, minimumPerChunk: max(1, 8192 / max(c, 1))) { rows in
            for r in rows {
                let x = input + r * c, dy = dOutput + r * c, dx = dInput + r * c, s = rstd[r]
                var dot: Float = 0
                for j in 0..<c { dot += dy[j] * (weight[j] + weightOffset) * x[j] }
                let correction = s * s * s * dot / Float(c)
                for j in 0..<c { dx[j] += s * dy[j] * (weight[j] + weightOffset) - correction * x[j] }
            }
        }
        return
    }
    for r in 0..<n {
        let x = input + r * c
        let dy = dOutput + r * c
        let s = rstd[r]
        if let dWeight {
            for j in 0..<c { dWeight[j] += dy[j] * x[j] * s }
        }
        if let dInput {
            let dx = dInput + r * c
            var dot: Float = 0
            for j in 0..<c { dot += dy[j] * (weight[j] + weightOffset) * x[j] }
            let correction = s * s * s * dot / Float(c)
            for j in 0..<c { dx[j] += s * dy[j] * (weight[j] + weightOffset) - correction * x[j] }
        }
    }
}
