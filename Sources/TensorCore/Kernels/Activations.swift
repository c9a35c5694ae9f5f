#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

// ----------------------------------------------------------------------------------------------------
// Pointwise activations and their derivatives.
//
//   SiLU        x · σ(x)                                   σ(x) · (1 + x · (1 − σ(x)))
//   GELU (erf)  ½x · (1 + erf(x/√2))        (BERT)         ½(1 + erf(x/√2)) + x · φ(x)
//   GELU (tanh) ½x · (1 + tanh(√(2/π)(x + 0.044715x³)))    ½(1 + t) + ½x(1 − t²)
//                                                            · √(2/π)(1 + 3·0.044715x²)
//               (Gemma's gelu_pytorch_tanh)

public enum Activation: String, Sendable, Codable, CaseIterable {
    case silu
    case geluErf = "gelu"
    case geluTanh = "gelu_tanh"

    @inlinable
    public func value(_ x: Float) -> Float {
        switch self {
        case .silu: return x / (1 + expf(-x))
        case .geluErf: return 0.5 * x * (1 + erff(x * 0.70710678118654752))
        case .geluTanh:
            let inner: Float = 0.79788456080286536 * (x + 0.044715 * x * x * x)
            return 0.5 * x * (1 + tanhf(inner))
        }
    }

    @inlinable
    public func derivative(_ x: Float) -> Float {
        switch self {
        case .silu:
            let s = 1 / (1 + expf(-x))
            return s * (1 + x * (1 - s))
        case .geluErf:
            let pdf = expf(-0.5 * x * x) * 0.39894228040143268
            return 0.5 * (1 + erff(x * 0.70710678118654752)) + x * pdf
        case .geluTanh:
            let inner: Float = 0.79788456080286536 * (x + 0.044715 * x * x * x)
            let t = tanhf(inner)
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * 0.79788456080286536 * (1 + 3 * 0.044715 * x * x)
        }
    }
}

/// - output, input: [count]
public func activationForward(_ activation: Activation, output: UnsafeMutablePointer<Float>,
                              input: UnsafePointer<Float>, count: Int) {
    parallelChunks(count) { range in for i in range { output[i] = activation.value(input[i]) } }
}

/// dInput += dOutput · act′(input). - dInput, dOutput, input: [count]
public func activationBackward(_ activation: Activation, dInput: UnsafeMutablePointer<Float>,
                               dOutput: UnsafePointer<Float>, input: UnsafePointer<Float>, count: Int) {
    parallelChunks(count) { range in for i in range { dInput[i] += dOutput[i] * activation.derivative(input[i]) } }
}
