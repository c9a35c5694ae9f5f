import Testing
import TensorCore
import Autodiff
import Optimizers
import TestSupport

/// A tiny two-layer gated MLP (x → x + W_down · (silu(W_gate x) ⊙ W_up x), twice, then a frozen head),
/// with named parameters like a real model's.
struct TinyGatedMLP {
    static let (layers, width, neurons, vocabulary) = (2, 8, 16, 6)
    var tensors: [String: Tensor] = [:]

    init(seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        for l in 0..<Self.layers {
            tensors["blocks.\(l).mlp.gate.weight"] = Tensor(randomNormal: [Self.neurons, Self.width], std: 0.4, using: &rng)
            tensors["blocks.\(l).mlp.up.weight"] = Tensor(randomNormal: [Self.neurons, Self.width], std: 0.4, using: &rng)
            tensors["blocks.\(l).mlp.down.weight"] = Tensor(randomNormal: [Self.width, Self.neurons], std: 0.4, using: &rng)
            tensors["blocks.\(l).norm.weight"] = Tensor(randomNormal: [Self.width], std: 0.1, using: &rng)
        }
        tensors["head.weight"] = Tensor(randomNormal: [Self.vocabulary, Self.width], std: 0.5, using: &rng)
    }

    static func ownership(_ l: Int) -> FFNNeuronOwnership {
        FFNNeuronOwnership(rowOwned: ["blocks.\(l).mlp.gate.weight", "blocks.\(l).mlp.up.weight"],
                           columnOwned: ["blocks.\(l).mlp.down.weight"])
    }

    func loss(_ p: [String: Variable], input: Tensor, targets: [Int32]) -> Variable {
        var x = Variable(input)
        for l in 0..<Self.layers {
            let h = rmsNorm(x, weight: p["blocks.\(l).norm.weight"]!, eps: 1e-6, weightOffset: 1)
            let site = gatedSite(gate: linear(h, weight: p["blocks.\(l).mlp.gate.weight"]!),
                                 up: linear(h, weight: p["blocks.\(l).mlp.up.weight"]!), activation: .silu)
            x = add(x, linear(site, weight: p["blocks.\(l).mlp.down.weight"]!))
        }
        return crossEntropy(linear(x, weight: p["head.weight"]!), targets: targets)
    }
}

@Suite struct MaskedTrainingTests {
    /// 200 AdamW steps with weight decay 0.1: every byte outside the mask stays as it was, every masked-in
    /// slice moves, the loss falls, and optimizer state covers only the selection.
    @Test func adamWLeavesMaskedOutBytesIdentical() throws {
        let model = TinyGatedMLP(seed: 1)
        let selection = NeuronSelection([0: [1, 5, 11], 1: [0, 15]])
        let masks = try selection.gradientMasks(parameterShapes: model.tensors.mapValues(\.shape), layers: 2,
                                                ownership: TinyGatedMLP.ownership)
        var parameters: [String: Variable] = [:]
        for (name, tensor) in model.tensors {
            parameters[name] = try masks[name].map { try Variable(tensor, mask: $0, name: name) } ?? Variable(tensor, name: name)
        }
        let trainable = masks.keys.sorted().map { parameters[$0]! }
        let optimizer = AdamW(parameters: trainable, learningRate: 1e-2, weightDecay: 0.1)
        #expect(optimizer.stateElementCount == 2 * masks.values.reduce(0) { $0 + $1.indices.count * $1.sliceLength })

        let input = randomTensor([12, TinyGatedMLP.width], seed: 2)
        let targets: [Int32] = (0..<12).map { Int32($0 % TinyGatedMLP.vocabulary) }
        var losses: [Float] = []
        for _ in 0..<200 {
            optimizer.zeroGradients()
            let loss = model.loss(parameters, input: input, targets: targets)
            losses.append(loss.value.scalars[0])
            loss.backward()
            optimizer.step()
        }
        #expect(losses.last! < losses.first! * 0.9, "loss \(losses.first!) → \(losses.last!)")

        for (name, before) in model.tensors {
            let after = parameters[name]!.value
            #expect(parameters[name]!.grad == nil, "\(name) got a dense gradient")
            for offset in 0..<before.count {
                let inMask = masks[name]?.contains(flatOffset: offset) ?? false
                if !inMask {
                    #expect(after.scalars[offset].bitPattern == before.scalars[offset].bitPattern,
                            "\(name)[\(offset)] changed outside the mask")
                }
            }
            if let mask = masks[name] {
                for j in 0..<mask.indices.count {
                    let (start, stride) = mask.slice(j)
                    let moved = (0..<mask.sliceLength).contains { after.scalars[start + $0 * stride] != before.scalars[start + $0 * stride] }
                    #expect(moved, "\(name) slice \(mask.indices[j]) never trained")
                }
            }
        }
    }

    @Test func outOfRangeNeuronIsRejectedByName() {
        let model = TinyGatedMLP(seed: 3)
        #expect {
            try NeuronSelection([1: [2, 16]]).gradientMasks(parameterShapes: model.tensors.mapValues(\.shape), layers: 2,
                                                              ownership: TinyGatedMLP.ownership)
        } throws: { error in
            let message = "\(error)"
            return message.contains("blocks.1.mlp.gate.weight") && message.contains("row 16") && message.contains("0..<16")
        }
    }

    /// Adam's first step moves each element by lr · g/(|g| + ε/…) ≈ lr · sign(g), after the decoupled decay
    /// p(1 − lr·wd): a closed form, independent of the implementation's bookkeeping.
    @Test func adamWFirstStepsMatchClosedForm() {
        let p = Variable(Tensor(shape: [3], scalars: [1, -2, 0.5]), requiresGrad: true)
        let optimizer = AdamW(parameters: [p], learningRate: 0.1, weightDecay: 0.5)
        p.grad = Tensor(shape: [3], scalars: [2, -0.25, 1e-3])
        optimizer.step()
        let expected1: [Double] = [1, -2, 0.5].enumerated().map { i, x in
            let g = [2, -0.25, 1e-3][i]
            return x * (1 - 0.05) - 0.1 * g / (abs(g) + 1e-8)
        }
        for i in 0..<3 { #expect(abs(Double(p.value.scalars[i]) - expected1[i]) < 1e-6) }

        // Second step with gradient 0: m = 0.09g/0.19 (bias-corrected), v̂ = 0.001g²/0.001999.
        p.grad = Tensor(shape: [3], repeating: 0)
        optimizer.step()
        for i in 0..<3 {
            let g = [2, -0.25, 1e-3][i]
            let mHat = 0.9 * 0.1 * g / (1 - 0.81)
            let vHat = 0.999 * 0.001 * g * g / (1 - 0.998001)
            let expected2 = expected1[i] * 0.95 - 0.1 * mHat / (vHat.squareRoot() + 1e-8)
            #expect(abs(Double(p.value.scalars[i]) - expected2) < 1e-5)
        }
    }

    @Test func parametersWithoutGradientAreNotDecayed() {
        let p = Variable(Tensor(shape: [2], scalars: [1, 2]), requiresGrad: true)
        let q = Variable(Tensor(shape: [2], scalars: [3, 4]), requiresGrad: true)
        let optimizer = AdamW(parameters: [p, q], learningRate: 0.1, weightDecay: 0.1)
        p.grad = Tensor(shape: [2], scalars: [1, 1])
        optimizer.step()
        #expect(q.value.scalars == [3, 4])
        #expect(p.value.scalars != [1, 2])
    }

    /// SGD with momentum μ and coupled decay: b₁ = g + wd·p, b₂ = μb₁ + g₂ + wd·p₁.
    @Test func sgdMomentumMatchesClosedFormAndRespectsMasks() throws {
        let mask = try GradientMask(parameter: "w", shape: [2, 2], axis: .columns, indices: [1])
        let w = try Variable(Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]), mask: mask)
        let optimizer = SGD(parameters: [w], learningRate: 0.5, momentum: 0.9, weightDecay: 0.1)
        #expect(optimizer.stateElementCount == 0)
        w.maskedGrad = Tensor(shape: [1, 2], scalars: [1, -1])   // gradient of column 1: w[0,1], w[1,1]
        optimizer.step()
        #expect(optimizer.stateElementCount == 2)
        // column 1: 2 − 0.5(1 + 0.2) = 1.4 ; 4 − 0.5(−1 + 0.4) = 4.3
        #expect(w.value.scalars == [1, 1.4, 3, 4.3])
        optimizer.step()
        // b = 0.9·1.2 + (1 + 0.14) = 2.22 → 1.4 − 1.11 = 0.29 ; b = 0.9·(−0.6) + (−1 + 0.43) = −1.11 → 4.3 + 0.555
        #expect(abs(w.value[0, 1] - 0.29) < 1e-6 && abs(w.value[1, 1] - 4.855) < 1e-6)
        #expect(w.value[0, 0] == 1 && w.value[1, 0] == 3)
    }
}
