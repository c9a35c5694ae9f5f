import Testing
import TensorCore
import Autodiff
import TestSupport

@Suite struct GraphTests {
    @Test func inferenceRecordsNoTape() {
        let x = Variable(randomTensor([2, 3], seed: 1))
        let w = Variable(randomTensor([4, 3], seed: 2))
        let y = activation(linear(x, weight: w), .silu)
        #expect(!y.requiresGrad)
        // No trainable input: nothing to go back to.
        let mirror = Mirror(reflecting: y)
        let parents = mirror.children.first { $0.label == "parents" }?.value as? [Variable]
        #expect(parents?.isEmpty == true)
    }

    @Test func frozenInputsGetNoGradient() {
        let x = Variable(randomTensor([2, 3], seed: 3))
        let w = Variable(randomTensor([4, 3], seed: 4), requiresGrad: true)
        sum(linear(x, weight: w)).backward()
        #expect(x.grad == nil)
        #expect(w.grad?.shape == [4, 3])
    }

    /// A masked weight gets exactly the rows (or columns) of the dense gradient that an unmasked twin
    /// receives, packed; and no dense gradient at all.
    @Test(arguments: [GradientMask.Axis.rows, .columns])
    func maskedLinearPacksTheSelectedSlices(axis: GradientMask.Axis) throws {
        let x = randomTensor([3, 5], seed: 5), w = randomTensor([6, 5], seed: 6), b = randomTensor([6], seed: 7)
        let selected = axis == .rows ? [4, 1] : [0, 3]
        let maskedWeight = try Variable(w, mask: GradientMask(parameter: "w", shape: [6, 5], axis: axis, indices: selected))
        let maskedBias = try Variable(b, mask: GradientMask(parameter: "b", shape: [6], axis: .rows, indices: [2]))
        let denseWeight = Variable(w, requiresGrad: true), denseBias = Variable(b, requiresGrad: true)
        for (weight, bias) in [(maskedWeight, maskedBias), (denseWeight, denseBias)] {
            let y = activation(linear(Variable(x), weight: weight, bias: bias), .geluTanh)
            multiply(y, y).backward()
        }
        #expect(maskedWeight.grad == nil && maskedBias.grad == nil)
        let packed = try #require(maskedWeight.maskedGrad), dense = try #require(denseWeight.grad)
        #expect(packed.shape == (axis == .rows ? [2, 5] : [2, 6]))
        for (j, index) in [1, 4].enumerated() where axis == .rows {
            for c in 0..<5 { #expect(abs(packed[j, c] - dense[index, c]) < 1e-5) }
        }
        for (j, index) in [0, 3].enumerated() where axis == .columns {
            for r in 0..<6 { #expect(abs(packed[j, r] - dense[r, index]) < 1e-5) }
        }
        #expect(abs(maskedBias.maskedGrad![0, 0] - denseBias.grad![2]) < 1e-5)
    }

    @Test func masksRejectWhatDoesNotExist() {
        #expect(throws: GradientMaskError.indexOutOfRange(parameter: "blocks.1.mlp.gate.weight", axis: .rows, index: 16, size: 16)) {
            try GradientMask(parameter: "blocks.1.mlp.gate.weight", shape: [16, 8], axis: .rows, indices: [3, 16])
        }
        #expect(throws: GradientMaskError.indexOutOfRange(parameter: "down", axis: .columns, index: -1, size: 16)) {
            try GradientMask(parameter: "down", shape: [8, 16], axis: .columns, indices: [-1])
        }
        #expect(throws: GradientMaskError.unsupportedRank(parameter: "bias", shape: [16])) {
            try GradientMask(parameter: "bias", shape: [16], axis: .columns, indices: [0])
        }
        let mask = try! GradientMask(parameter: "w", shape: [4, 4], axis: .rows, indices: [0])
        #expect(throws: GradientMaskError.shapeMismatch(parameter: "w", maskShape: [4, 4], parameterShape: [4, 5])) {
            try Variable(Tensor(shape: [4, 5]), mask: mask)
        }
        let message = GradientMaskError.indexOutOfRange(parameter: "blocks.1.mlp.gate.weight", axis: .rows, index: 16, size: 16).description
        #expect(message.contains("blocks.1.mlp.gate.weight") && message.contains("16"))
    }

    @Test func neuronSelectionExpandsToOwnedSlices() throws {
        let shapes: [String: [Int]] = [
            "blocks.0.gate": [16, 8], "blocks.0.up": [16, 8], "blocks.0.down": [8, 16], "blocks.0.up_bias": [16],
            "blocks.1.gate": [16, 8], "blocks.1.up": [16, 8], "blocks.1.down": [8, 16], "blocks.1.up_bias": [16],
        ]
        let ownership = { (l: Int) in
            FFNNeuronOwnership(rowOwned: ["blocks.\(l).gate", "blocks.\(l).up"], columnOwned: ["blocks.\(l).down"], entryOwned: ["blocks.\(l).up_bias"])
        }
        let masks = try NeuronSelection([1: [7, 2, 7]]).gradientMasks(parameterShapes: shapes, layers: 2, ownership: ownership)
        #expect(Set(masks.keys) == ["blocks.1.gate", "blocks.1.up", "blocks.1.down", "blocks.1.up_bias"])
        #expect(masks["blocks.1.down"]?.axis == .columns && masks["blocks.1.down"]?.indices == [2, 7])
        #expect(masks["blocks.1.gate"]?.packedShape == [2, 8] && masks["blocks.1.down"]?.packedShape == [2, 8])

        #expect(throws: GradientMaskError.indexOutOfRange(parameter: "blocks.0.gate", axis: .rows, index: 16, size: 16)) {
            try NeuronSelection([0: [16]]).gradientMasks(parameterShapes: shapes, layers: 2, ownership: ownership)
        }
        #expect(throws: GradientMaskError.layerOutOfRange(layer: 2, layers: 2)) {
            try NeuronSelection([2: [0]]).gradientMasks(parameterShapes: shapes, layers: 2, ownership: ownership)
        }
        #expect(throws: (any Error).self) {
            try NeuronSelection([0: [0]]).gradientMasks(parameterShapes: shapes, layers: 2) { _ in
                FFNNeuronOwnership(rowOwned: ["blocks.0.w_in"], columnOwned: [])
            }
        }
    }
}
