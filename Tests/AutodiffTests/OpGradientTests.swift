import Foundation
import Testing
import TensorCore
import Autodiff
import TestSupport

/// A finite-difference check for every autodiff op, through the graph (forward, tape, backward).
/// Tolerances: `GradientCheck`'s defaults (atol 1e-3, rtol 1e-2), justified in its documentation.
@Suite struct OpGradientTests {
    let checker = GradientCheck()

    @Test func linearWithAndWithoutBias() {
        let x = randomTensor([2, 3, 4], seed: 1), w = randomTensor([5, 4], seed: 2), b = randomTensor([5], seed: 3)
        let withBias = checker.checkOp(inputs: [x, w, b]) { v in linear(v[0], weight: v[1], bias: v[2]) }
        let without = checker.checkOp(inputs: [x, w]) { v in linear(v[0], weight: v[1]) }
        #expect(withBias.passed, "\(withBias)")
        #expect(without.passed, "\(without)")
    }

    @Test func embeddingOp() {
        let report = checker.checkOp(inputs: [randomTensor([6, 3], seed: 4)]) { v in embedding(v[0], ids: [5, 1, 1, 0]) }
        #expect(report.passed, "\(report)")
    }

    @Test(arguments: [Float(0), 1])
    func rmsNormOp(offset: Float) {
        let report = checker.checkOp(inputs: [randomTensor([2, 2, 5], seed: 5), randomTensor([5], seed: 6)]) { v in
            rmsNorm(v[0], weight: v[1], eps: 1e-6, weightOffset: offset)
        }
        #expect(report.passed, "\(report)")
    }

    @Test func layerNormOp() {
        let report = checker.checkOp(inputs: [randomTensor([3, 5], seed: 7), randomTensor([5], seed: 8), randomTensor([5], seed: 9)]) { v in
            layerNorm(v[0], weight: v[1], bias: v[2], eps: 1e-5)
        }
        #expect(report.passed, "\(report)")
    }

    @Test(arguments: Activation.allCases)
    func activationOp(_ kind: Activation) {
        let report = checker.checkOp(inputs: [randomTensor([3, 4], seed: 10, std: 2)]) { v in activation(v[0], kind) }
        #expect(report.passed, "\(report)")
    }

    @Test(arguments: Activation.allCases)
    func gatedSiteOp(_ kind: Activation) {
        let report = checker.checkOp(inputs: [randomTensor([2, 6], seed: 11, std: 2), randomTensor([2, 6], seed: 12)]) { v in
            gatedSite(gate: v[0], up: v[1], activation: kind)
        }
        #expect(report.passed, "\(report)")
    }

    @Test func softmaxAndSoftCapOps() {
        let s = checker.checkOp(inputs: [randomTensor([2, 5], seed: 13)]) { v in softmax(v[0]) }
        let c = checker.checkOp(inputs: [randomTensor([2, 5], seed: 14, std: 10)]) { v in softCap(v[0], cap: 5) }
        #expect(s.passed, "\(s)")
        #expect(c.passed, "\(c)")
    }

    @Test(arguments: RoPELayout.allCases)
    func ropeOp(_ layout: RoPELayout) {
        let table = RoPETable(positions: [0, 1, 2, 40], rotaryDims: 4, base: 10_000)
        let report = checker.checkOp(inputs: [randomTensor([4, 2 * 4], seed: 15)]) { v in
            rope(v[0], table: table, layout: layout, heads: 2, headDim: 4)
        }
        #expect(report.passed, "\(report)")
    }

    @Test func attentionOp() {
        let config = AttentionConfig(batch: 2, queries: 3, heads: 2, kvHeads: 1, headDim: 2, causal: true, window: 2)
        let report = checker.checkOp(inputs: [randomTensor([2, 3, 2, 2], seed: 16), randomTensor([2, 3, 1, 2], seed: 17), randomTensor([2, 3, 1, 2], seed: 18)]) { v in
            attention(query: v[0], key: v[1], value: v[2], config: config, keyMask: [true, true, true, false, true, true])
        }
        #expect(report.passed, "\(report)")
    }

    @Test func crossEntropyOps() {
        let full = checker.checkOp(inputs: [randomTensor([3, 7], seed: 19)]) { v in crossEntropy(v[0], targets: [6, -1, 2]) }
        let classes = checker.checkOp(inputs: [randomTensor([3, 7], seed: 20)]) { v in crossEntropy(v[0], targets: [1, 0, 1], candidates: [4, 2]) }
        // Soft targets: a different softmax distribution per row.
        var targets = randomTensor([3, 7], seed: 23)
        for r in 0..<3 {
            let row = (0..<7).map { exp(targets.scalars[r * 7 + $0]) }, total = row.reduce(0, +)
            for j in 0..<7 { targets.scalars[r * 7 + j] = row[j] / total }
        }
        let soft = checker.checkOp(inputs: [randomTensor([3, 7], seed: 24)]) { v in softCrossEntropy(v[0], targets: targets) }
        #expect(full.passed, "\(full)")
        #expect(classes.passed, "\(classes)")
        #expect(soft.passed, "\(soft)")
    }

    @Test func elementwiseOps() {
        let a = randomTensor([2, 3], seed: 21), b = randomTensor([2, 3], seed: 22)
        for report in [
            checker.checkOp(inputs: [a, b]) { v in add(v[0], v[1]) },
            checker.checkOp(inputs: [a, b]) { v in multiply(v[0], v[1]) },
            checker.checkOp(inputs: [a]) { v in scale(v[0], by: -2.5) },
            checker.checkOp(inputs: [a]) { v in reshape(v[0], [3, 2]) },
            checker.checkOp(inputs: [a]) { v in sum(v[0]) },
            // A node used twice must accumulate both contributions: d(x⊙x)/dx = 2x.
            checker.checkOp(inputs: [a]) { v in multiply(v[0], v[0]) },
        ] {
            #expect(report.passed, "\(report)")
        }
    }

    /// A whole pre-norm decoder block with a gated FFN and a verbalizer loss, checked end to end: the ops
    /// must compose, not just pass alone. Inputs above 64 elements get directional checks.
    @Test func decoderBlockComposes() {
        let (t, c, h, d, f, v) = (3, 8, 2, 4, 12, 10)
        let table = RoPETable(positions: Array(0..<t), rotaryDims: d, base: 10_000)
        let config = AttentionConfig(batch: 1, queries: t, heads: h, kvHeads: 1, headDim: d, causal: true)
        let inputs = [
            randomTensor([t, c], seed: 30), randomTensor([c], seed: 31), randomTensor([h * d, c], seed: 32, std: 0.5),
            randomTensor([d, c], seed: 33, std: 0.5), randomTensor([d, c], seed: 34, std: 0.5), randomTensor([c, h * d], seed: 35, std: 0.5),
            randomTensor([f, c], seed: 36, std: 0.5), randomTensor([f, c], seed: 37, std: 0.5), randomTensor([c, f], seed: 38, std: 0.5),
            randomTensor([v, c], seed: 39, std: 0.5),
        ]
        let report = GradientCheck().checkOp(inputs: inputs) { p in
            let normed = rmsNorm(p[0], weight: p[1], eps: 1e-6)
            let q = rope(linear(normed, weight: p[2]), table: table, layout: .rotateHalf, heads: h, headDim: d)
            let k = rope(linear(normed, weight: p[3]), table: table, layout: .rotateHalf, heads: 1, headDim: d)
            let mixed = attention(query: reshape(q, [1, t, h, d]), key: reshape(k, [1, t, 1, d]),
                                  value: reshape(linear(normed, weight: p[4]), [1, t, 1, d]), config: config)
            let resid = add(p[0], linear(reshape(mixed, [t, h * d]), weight: p[5]))
            let normed2 = rmsNorm(resid, weight: p[1], eps: 1e-6)
            let site = gatedSite(gate: linear(normed2, weight: p[6]), up: linear(normed2, weight: p[7]), activation: .silu)
            let out = add(resid, linear(site, weight: p[8]))
            return crossEntropy(linear(out, weight: p[9]), targets: [3, 1, 7])
        }
        #expect(report.passed, "\(report)")
    }
}

@Suite struct RowOpGradientTests {
    let checker = GradientCheck()

    @Test func gatherConcatGroupMeanAndNormalize() {
        let x = randomTensor([4, 3], seed: 40), y = randomTensor([2, 3], seed: 41)
        for report in [
            checker.checkOp(inputs: [x]) { v in gatherRows(v[0], [3, 0, 3]) },
            checker.checkOp(inputs: [x]) { v in sliceColumns(v[0], 1..<3) },
            checker.checkOp(inputs: [x, y]) { v in concatRows([v[0], v[1]]) },
            checker.checkOp(inputs: [x]) { v in groupMeanRows(v[0], groups: [[0, 1], [2], [1, 2, 3]]) },
            checker.checkOp(inputs: [x]) { v in l2NormalizeRows(v[0]) },
        ] {
            #expect(report.passed, "\(report)")
        }
    }
}
