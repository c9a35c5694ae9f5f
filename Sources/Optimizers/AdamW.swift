import Autodiff
import TensorCore

/// AdamW (Loshchilov & Hutter 2019) with PyTorch's semantics, step for step:
///
///   p ← p · (1 − lr·wd)                                   decoupled weight decay
///   m ← m + (1 − β₁)(g − m)                               (torch.lerp)
///   v ← β₂·v + (1 − β₂)·g²
///   p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)   ε outside the square root
///
/// State (m, v) exists only for trainable elements: for a masked parameter, [k, slice] like its packed
/// gradient. A parameter with no gradient this step is skipped entirely, decay included, as in PyTorch;
/// weights outside a mask are never touched and stay byte-identical.
public final class AdamW {
    public var learningRate: Float
    public let beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float
    private let slices: [ParameterSlices]
    private var firstMoment: [[Float]]
    private var secondMoment: [[Float]]
    private var steps: [Int]

    public init(parameters: [Variable], learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0.01) {
        precondition(parameters.allSatisfy(\.requiresGrad), "AdamW: every parameter must require a gradient")
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.slices = parameters.map(ParameterSlices.init)
        self.firstMoment = slices.map { [Float](repeating: 0, count: $0.count) }
        self.secondMoment = firstMoment
        self.steps = [Int](repeating: 0, count: parameters.count)
    }

    /// The moments and step counts, per parameter, for saving and resuming a run exactly.
    public var state: (first: [[Float]], second: [[Float]], steps: [Int]) {
        get { (firstMoment, secondMoment, steps) }
        set {
            precondition(newValue.first.map(\.count) == firstMoment.map(\.count) &&
                         newValue.second.map(\.count) == secondMoment.map(\.count) &&
                         newValue.steps.count == steps.count, "AdamW: restored state does not match the parameters")
            (firstMoment, secondMoment, steps) = newValue
        }
    }

    /// Optimizer state held, in Float elements (m and v together).
    public var stateElementCount: Int { firstMoment.reduce(0) { $0 + $1.count } * 2 }

    public func step() {
        for (index, slice) in slices.enumerated() {
            guard let gradient = slice.gradient else { continue }
            steps[index] += 1
            let t = Double(steps[index])
            // Scalars formed in Double as PyTorch's Python code does, then used in Float32.
            let decay = Float(1 - Double(learningRate) * Double(weightDecay))
            let stepSize = Float(Double(learningRate) / (1 - pow(Double(beta1), t)))
            let correction2 = Float((1 - pow(Double(beta2), t)).squareRoot())
            let (b1, b2, eps) = (beta1, beta2, epsilon)
            firstMoment[index].withUnsafeMutableBufferPointer { m in
                secondMoment[index].withUnsafeMutableBufferPointer { v in
                    slice.forEach(gradient) { p, g, i in
                        if weightDecay != 0 { p *= decay }
                        m[i] += (1 - b1) * (g - m[i])
                        v[i] = v[i] * b2 + (1 - b2) * g * g
                        let denominator = v[i].squareRoot() / correction2 + eps
                        p += -stepSize * (m[i] / denominator)
                    }
                }
            }
        }
    }

    /// Clears every parameter's gradient, dense or packed.
    public func zeroGradients() { slices.forEach { $0.variable.zeroGradient() } }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
