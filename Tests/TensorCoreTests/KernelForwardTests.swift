import Testing
import Foundation
import TensorCore
import TestSupport

/// Forward values against independent references: closed forms, published constants and naive loops.
@Suite struct KernelForwardTests {
    @Test func activationValuesMatchPublishedConstants() {
        // GELU(1) = Φ(1) = 0.8413447; the tanh form gives 0.8411920; SiLU(1) = σ(1) = 0.7310586.
        #expect(abs(Activation.geluErf.value(1) - 0.8413447) < 1e-6)
        #expect(abs(Activation.geluTanh.value(1) - 0.8411920) < 1e-6)
        #expect(abs(Activation.silu.value(1) - 0.7310586) < 1e-6)
        #expect(Activation.silu.value(0) == 0)
        #expect(abs(Activation.geluErf.value(-10)) < 1e-6)
    }

    @Test func rmsNormGemmaOffsetScalesByOnePlusWeight() {
        let x = Tensor(shape: [1, 2], scalars: [3, 4])
        let w = Tensor(shape: [2], scalars: [0, 1])
        let (y, y1) = (
            runKernel(inputs: [x, w], outputs: [[1, 2], [1]]) { p, o in rmsNormForward(output: o[0], rstd: o[1], input: p[0], weight: p[1], rows: 1, channels: 2, eps: 0, weightOffset: 0) }[0],
            runKernel(inputs: [x, w], outputs: [[1, 2], [1]]) { p, o in rmsNormForward(output: o[0], rstd: o[1], input: p[0], weight: p[1], rows: 1, channels: 2, eps: 0, weightOffset: 1) }[0]
        )
        let rms = Float((12.5).squareRoot())
        #expect(abs(y[0, 0] - 0) < 1e-6 && abs(y[0, 1] - 4 / rms) < 1e-6)
        #expect(abs(y1[0, 0] - 3 / rms) < 1e-6 && abs(y1[0, 1] - 8 / rms) < 1e-6)
    }

    @Test func layerNormNormalizes() {
        let x = randomTensor([2, 8], seed: 1, std: 3)
        let y = runKernel(inputs: [x, Tensor(shape: [8], repeating: 1)], outputs: [[2, 8], [2], [2]]) { p, o in
            layerNormForward(output: o[0], mean: o[1], rstd: o[2], input: p[0], weight: p[1], bias: nil, rows: 2, channels: 8, eps: 0)
        }[0]
        for r in 0..<2 {
            let row = (0..<8).map { Double(y[r, $0]) }
            let mean = row.reduce(0, +) / 8
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 8
            #expect(abs(mean) < 1e-6 && abs(variance - 1) < 1e-5)
        }
    }

    @Test func softmaxRowsSumToOneAndMaskedRowsAreZero() {
        let x = Tensor(shape: [2, 3], scalars: [1000, 1001, 999, -.infinity, -.infinity, -.infinity])
        let y = runKernel(inputs: [x], outputs: [[2, 3]]) { p, o in softmaxForward(output: o[0], input: p[0], rows: 2, columns: 3) }[0]
        #expect(abs(y[0, 0] + y[0, 1] + y[0, 2] - 1) < 1e-6)
        #expect(y[0, 1] > y[0, 0] && y[0, 0] > y[0, 2])
        #expect([y[1, 0], y[1, 1], y[1, 2]] == [0, 0, 0])
    }

    /// The rotate-half layout on a head whose channels are permuted (pairs regrouped) equals the
    /// interleaved layout on the original head: this is GGUF's Q/K permutation, so both must agree.
    @Test func ropeLayoutsAgreeUnderThePairPermutation() {
        let d = 8, table = RoPETable(positions: [0, 3, 450], rotaryDims: d, base: 10_000)
        let x = randomTensor([3, 1, d], seed: 2)
        // interleaved pair (2i, 2i+1) ↦ rotate-half pair (i, i + d/2)
        var permuted = x
        for n in 0..<3 { for i in 0..<(d / 2) {
            permuted[n, 0, i] = x[n, 0, 2 * i]
            permuted[n, 0, i + d / 2] = x[n, 0, 2 * i + 1]
        } }
        let a = runKernel(inputs: [x], outputs: [[3, 1, d]]) { p, o in ropeForward(.interleaved, output: o[0], input: p[0], table: table, heads: 1, headDim: d) }[0]
        let b = runKernel(inputs: [permuted], outputs: [[3, 1, d]]) { p, o in ropeForward(.rotateHalf, output: o[0], input: p[0], table: table, heads: 1, headDim: d) }[0]
        for n in 0..<3 { for i in 0..<(d / 2) {
            #expect(abs(a[n, 0, 2 * i] - b[n, 0, i]) < 1e-5)
            #expect(abs(a[n, 0, 2 * i + 1] - b[n, 0, i + d / 2]) < 1e-5)
        } }
        // Position 0 is the identity; rotations keep the norm.
        for j in 0..<d { #expect(a[0, 0, j] == x[0, 0, j]) }
        let norm = { (t: Tensor, n: Int) in (0..<d).reduce(Float(0)) { $0 + t[n, 0, $1] * t[n, 0, $1] } }
        #expect(abs(norm(a, 2) - norm(x, 2)) < 1e-4)
    }

    /// ⟨rope(q, m), rope(k, n)⟩ depends on m − n only: the property RoPE exists for, at long range.
    @Test func ropeDotProductDependsOnRelativePosition() {
        let d = 16, q = randomTensor([1, 1, d], seed: 3), k = randomTensor([1, 1, d], seed: 4)
        func dot(_ m: Int, _ n: Int) -> Float {
            let rq = runKernel(inputs: [q], outputs: [[1, 1, d]]) { p, o in ropeForward(.rotateHalf, output: o[0], input: p[0], table: RoPETable(positions: [m], rotaryDims: d, base: 10_000), heads: 1, headDim: d) }[0]
            let rk = runKernel(inputs: [k], outputs: [[1, 1, d]]) { p, o in ropeForward(.rotateHalf, output: o[0], input: p[0], table: RoPETable(positions: [n], rotaryDims: d, base: 10_000), heads: 1, headDim: d) }[0]
            return zip(rq.scalars, rk.scalars).reduce(0) { $0 + $1.0 * $1.1 }
        }
        #expect(abs(dot(7, 3) - dot(404, 400)) < 1e-3)
    }

    /// Attention against a naive Double implementation that applies the masks (and the soft cap) by their definitions.
    @Test(arguments: 0..<KernelGradientTests.attentionCases.count)
    func attentionMatchesNaive(caseIndex: Int) {
        let (_, a, keyMask) = KernelGradientTests.attentionCases[caseIndex]
        let q = randomTensor([a.batch, a.queries, a.heads, a.headDim], seed: 5)
        let k = randomTensor([a.batch, a.keys, a.kvHeads, a.headDim], seed: 6)
        let v = randomTensor([a.batch, a.keys, a.kvHeads, a.headDim], seed: 7)
        let out = runKernel(inputs: [q, k, v], outputs: [q.shape, [a.batch, a.heads, a.queries, a.keys]]) { p, o in
            attentionForward(output: o[0], probabilities: o[1], query: p[0], key: p[1], value: p[2], keyMask: keyMask, config: a)
        }[0]
        for b in 0..<a.batch { for h in 0..<a.heads { for i in 0..<a.queries {
            let g = h / (a.heads / a.kvHeads)
            var scores: [Double] = []
            for j in 0..<a.keys {
                let position = i + a.queryOffset
                let visible = (!a.causal || j <= position) && (a.window.map { position - j < $0 } ?? true) && (keyMask?[b * a.keys + j] ?? true)
                let s = (0..<a.headDim).reduce(0.0) { $0 + Double(q[b, i, h, $1]) * Double(k[b, j, g, $1]) }
                let scaled = s * Double(a.scale)
                let capped = a.softcap.map { Double($0) * tanh(scaled / Double($0)) } ?? scaled
                scores.append(visible ? capped : -.infinity)
            }
            let m = scores.max()!
            let weights = scores.map { m == -.infinity ? 0 : exp($0 - m) }
            let total = weights.reduce(0, +)
            for e in 0..<a.headDim {
                let expected = total == 0 ? 0 : (0..<a.keys).reduce(0.0) { $0 + weights[$1] / total * Double(v[b, $1, g, e]) }
                #expect(abs(Double(out[b, i, h, e]) - expected) < 1e-5)
            }
        } } }
    }

    @Test func crossEntropyMatchesNaiveAndIgnoresRows() {
        let logits = randomTensor([3, 5], seed: 8, std: 3)
        let targets: [Int32] = [4, -1, 0]
        var result = (0.0, 0)
        _ = runKernel(inputs: [logits], outputs: [[3]]) { p, o in
            result = crossEntropyForward(logSumExp: o[0], logits: p[0], targets: targets, candidates: nil, rows: 3, vocabulary: 5)
        }
        var expected = 0.0
        for (r, t) in [(0, 4), (2, 0)] {
            let lse = log((0..<5).reduce(0.0) { $0 + exp(Double(logits[r, $1])) })
            expected += lse - Double(logits[r, t])
        }
        #expect(result.1 == 2)
        #expect(abs(result.0 - expected) < 1e-5)
    }
}
