#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

// ----------------------------------------------------------------------------------------------------
// LayerNorm (Ba et al. 2016), as BERT uses it.
//
//   μ = mean(x)   r = 1 / sqrt(var(x) + eps)   x̂ = (x − μ) · r   y = x̂ · w + b
//
// Backward, with g = dy · w:
//   dx = r · (g − mean(g) − x̂ · mean(g · x̂))    dw += Σₙ dy · x̂    db += Σₙ dy

/// - output: [N, C]; input: [N, C]; weight, bias: [C]; saving mean, rstd: [N]
public func layerNormForward(
    output: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
    input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    rows n: Int, channels c: Int, eps: Float
) {
    for r in 0..<n {
        let x = input + r * c
        let y = output + r * c
        var sum: Float = 0
        for j in 0..<c { sum += x[j] }
        let m = sum / Float(c)
        var variance: Float = 0
        for j in 0..<c { variance += (x[j] - m) * (x[j] - m) }
        let s = 1 / sqrtf(variance / Float(c) + eps)
        mean[r] = m
        rstd[r] = s
        for j in 0..<c { y[j] = (x[j] - m) * s * weight[j] + (bias?[j] ?? 0) }
    }
}

/// - dInput: [N, C]; dWeight, dBias: [C]; dOutput, input: [N, C]; mean, rstd: [N] from the forward
public func layerNormBackward(
    dInput: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
    dOutput: UnsafePointer<Float>, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows n: Int, channels c: Int
) {
    for r in 0..<n {
        let x = input + r * c
        let dy = dOutput + r * c
        let m = mean[r], s = rstd[r]
        var meanG: Float = 0, meanGX: Float = 0
        for j in 0..<c {
            let g = dy[j] * weight[j]
            let xHat = (x[j] - m) * s
            meanG += g
            meanGX += g * xHat
            dWeight?[j] += dy[j] * xHat
            dBias?[j] += dy[j]
        }
        meanG /= Float(c)
        meanGX /= Float(c)
        if let dInput {
            let dx = dInput + r * c
            for j in 0..<c {
                let xHat = (x[j] - m) * s
                dx[j] += s * (dy[j] * weight[j] - meanG - xHat * meanGX)
            }
        }
    }
}
