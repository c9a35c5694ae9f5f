import Autodiff
import TensorCore

/// Stochastic gradient descent with PyTorch's semantics:
///
///   g ← g + wd·p                  (coupled L2 decay, only when wd ≠ 0)
///   b ← g on the first step, then μ·b + g      (only when μ ≠ 0)
///   p ← p − lr·b   (or p − lr·g without momentum)
///
/// As with AdamW, state and updates cover only trainable elements, so masked-out weights never change.
public final class SGD {
    public var learningRate: Float
    public let momentum: Float, weightDecay: Float
    private let slices: [ParameterSlices]
    private var buffers: [[Float]?]

    public init(parameters: [Variable], learningRate: Float, momentum: Float = 0, weightDecay: Float = 0) {
        precondition(parameters.allSatisfy(\.requiresGrad), "SGD: every parameter must require a gradient")
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.slices = parameters.map(ParameterSlices.init)
        self.buffers = [[Float]?](repeating: nil, count: parameters.count)
    }

    /// Momentum state held, in Float elements.
    public var stateElementCount: Int { buffers.reduce(0) { $0 + ($1?.count ?? 0) } }

    public func step() {
        let (lr, mu, wd) = (learningRate, momentum, weightDecay)
        for (index, slice) in slices.enumerated() {
            guard let gradient = slice.gradient else { continue }
            if mu == 0 {
                slice.forEach(gradient) { p, g, _ in p -= lr * (wd != 0 ? g + wd * p : g) }
                continue
            }
            let first = buffers[index] == nil
            var buffer = buffers[index] ?? [Float](repeating: 0, count: slice.count)
            buffer.withUnsafeMutableBufferPointer { b in
                slice.forEach(gradient) { p, g, i in
                    let decayed = wd != 0 ? g + wd * p : g
                    b[i] = first ? decayed : mu * b[i] + decayed
                    p -= lr * b[i]
                }
            }
            buffers[index] = buffer
        }
    }

    public func zeroGradients() { slices.forEach { $0.variable.zeroGradient() } }
}
