#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

// ----------------------------------------------------------------------------------------------------
// Softmax over the last dimension, max-subtracted for stability.
//
//   y = exp(x − max x) / Σ exp(x − max x)        dx += y · (dy − Σ dy · y)
//
// A row whose entries are all −∞ (a query that may attend to nothing) gives zeros, not NaN.

/// - output, input: [N, C]
public func softmaxForward(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
                           rows n: Int, columns c: Int) {
    for r in 0..<n { softmaxRow(output + r * c, input + r * c, c) }
}

/// - dInput, dOutput, output: [N, C], where output is the forward's result
public func softmaxBackward(dInput: UnsafeMutablePointer<Float>, dOutput: UnsafePointer<Float>,
                            output: UnsafePointer<Float>, rows n: Int, columns c: Int) {
    for r in 0..<n {
        let y = output + r * c, dy = dOutput + r * c, dx = dInput + r * c
        var dot: Float = 0
        for j in 0..<c { dot += dy[j] * y[j] }
        for j in 0..<c { dx[j] += y[j] * (dy[j] - dot) }
    }
}

/// One row, in place allowed (output may equal input).
@inline(__always)
func softmaxRow(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ c: Int) {
    var maximum = -Float.infinity
    for j in 0..<c where x[j] > maximum { maximum = x[j] }
    if maximum == -Float.infinity {
        for j in 0..<c { y[j] = 0 }
        return
    }
    var sum: Float = 0
    for j in 0..<c {
        let e = expf(x[j] - maximum)
        y[j] = e
        sum += e
    }
    let inverse = 1 / sum
    for j in 0..<c { y[j] *= inverse }
}
