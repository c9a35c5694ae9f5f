#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

// ----------------------------------------------------------------------------------------------------
// Logit soft-capping (Gemma 2/3's final_logit_softcapping).
//
//   y = cap · tanh(x / cap)        dx += dy · (1 − tanh²(x / cap))

/// - output, input: [count]
public func softCapForward(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, count: Int, cap: Float) {
    for i in 0..<count { output[i] = cap * tanhf(input[i] / cap) }
}

/// - dInput, dOutput, input: [count]
public func softCapBackward(dInput: UnsafeMutablePointer<Float>, dOutput: UnsafePointer<Float>,
                            input: UnsafePointer<Float>, count: Int, cap: Float) {
    for i in 0..<count {
        let t = tanhf(input[i] / cap)
        dInput[i] += dOutput[i] * (1 - t * t)
    }
}
