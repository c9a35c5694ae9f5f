import Testing
import TensorCore
import TestSupport

/// A finite-difference check for every forward/backward kernel pair, called directly on pointers.
/// Tolerances: `GradientCheck`'s defaults (atol 1e-3, rtol 1e-2), justified in its documentation.
@Suite struct KernelGradientTests {
    let checker = GradientCheck()

    @Test(arguments: [true, false])
    func linear(withBias: Bool) {
        let (n, i, o) = (3, 4, 5)
        let inputs = [randomTensor([n, i], seed: 1), randomTensor([o, i], seed: 2), randomTensor([o], seed: 3)]
        let report = checker.check(inputs: inputs, forward: { x in
            runKernel(inputs: x, outputs: [[n, o]]) { p, y in
                linearForward(output: y[0], input: p[0], weight: p[1], bias: withBias ? p[2] : nil, rows: n, inFeatures: i, outFeatures: o)
            }[0]
        }, backward: { x, dy in
            let g = runKernel(inputs: x + [dy], outputs: [[n, i], [o, i], [o]]) { p, d in
                linearBackward(dInput: d[0], dWeight: d[1], dBias: withBias ? d[2] : nil, dOutput: p[3], input: p[0], weight: p[1],
                               rows: n, inFeatures: i, outFeatures: o)
            }
            return [g[0], g[1], withBias ? g[2] : nil]
        })
        #expect(report.passed, "\(report)")
    }

    /// The packed row/column gradients equal the corresponding slices of the dense gradient, and the
    /// packed rows pass their own finite-difference check with the other rows held fixed.
    @Test func maskedLinearGradientsAreSlicesOfTheDenseOne() {
        let (n, i, o) = (4, 6, 5)
        let x = randomTensor([n, i], seed: 4), w = randomTensor([o, i], seed: 5), dy = randomTensor([n, o], seed: 6)
        let rows = [0, 3], columns = [1, 4, 5], entries = [2, 4]
        let out = runKernel(inputs: [x, w, dy], outputs: [[o, i], [o], [rows.count, i], [columns.count, o], [entries.count]]) { p, d in
            linearBackward(dInput: nil, dWeight: d[0], dBias: d[1], dOutput: p[2], input: p[0], weight: p[1], rows: n, inFeatures: i, outFeatures: o)
            linearWeightGradientRows(dWeightRows: d[2], rows: rows, dOutput: p[2], input: p[0], rows: n, inFeatures: i, outFeatures: o)
            linearWeightGradientColumns(dWeightColumns: d[3], columns: columns, dOutput: p[2], input: p[0], rows: n, inFeatures: i, outFeatures: o)
            biasGradientEntries(dBiasEntries: d[4], entries: entries, dOutput: p[2], rows: n, outFeatures: o)
        }
        let (dense, denseBias, packedRows, packedColumns, packedBias) = (out[0], out[1], out[2], out[3], out[4])
        for (j, r) in rows.enumerated() { for c in 0..<i { #expect(abs(packedRows[j, c] - dense[r, c]) < 1e-5) } }
        for (j, c) in columns.enumerated() { for r in 0..<o { #expect(abs(packedColumns[j, r] - dense[r, c]) < 1e-5) } }
        for (j, e) in entries.enumerated() { #expect(abs(packedBias[j] - denseBias[e]) < 1e-5) }

        // FD on the selected rows alone: the input is the packed [k, I] block spliced into W.
        let report = checker.check(inputs: [Tensor(shape: [rows.count, i], scalars: rows.flatMap { r in (0..<i).map { w[r, $0] } })], forward: { packed in
            var spliced = w
            for (j, r) in rows.enumerated() { for c in 0..<i { spliced[r, c] = packed[0][j, c] } }
            return runKernel(inputs: [x, spliced], outputs: [[n, o]]) { p, y in
                linearForward(output: y[0], input: p[0], weight: p[1], bias: nil, rows: n, inFeatures: i, outFeatures: o)
            }[0]
        }, backward: { _, cotangent in
            [runKernel(inputs: [x, cotangent], outputs: [[rows.count, i]]) { p, d in
                linearWeightGradientRows(dWeightRows: d[0], rows: rows, dOutput: p[1], input: p[0], rows: n, inFeatures: i, outFeatures: o)
            }[0]]
        })
        #expect(report.passed, "\(report)")
    }

    @Test func embedding() {
        let ids: [Int32] = [2, 0, 2, 3]
        let report = checker.check(inputs: [randomTensor([5, 3], seed: 7)], forward: { x in
            runKernel(inputs: x, outputs: [[4, 3]]) { p, y in embeddingForward(output: y[0], table: p[0], ids: ids, vocabulary: 5, channels: 3) }[0]
        }, backward: { x, dy in
            [runKernel(inputs: [dy], outputs: [[5, 3]]) { p, d in embeddingBackward(dTable: d[0], dOutput: p[0], ids: ids, channels: 3) }[0]]
        })
        #expect(report.passed, "\(report)")
    }

    @Test(arguments: [Float(0), 1])
    func rmsNorm(weightOffset: Float) {
        let (n, c) = (3, 5)
        let report = checker.check(inputs: [randomTensor([n, c], seed: 8), randomTensor([c], seed: 9)], forward: { x in
            runKernel(inputs: x, outputs: [[n, c], [n]]) { p, y in
                rmsNormForward(output: y[0], rstd: y[1], input: p[0], weight: p[1], rows: n, channels: c, eps: 1e-5, weightOffset: weightOffset)
            }[0]
        }, backward: { x, dy in
            let saved = runKernel(inputs: x, outputs: [[n, c], [n]]) { p, y in
                rmsNormForward(output: y[0], rstd: y[1], input: p[0], weight: p[1], rows: n, channels: c, eps: 1e-5, weightOffset: weightOffset)
            }[1]
            let g = runKernel(inputs: x + [dy, saved], outputs: [[n, c], [c]]) { p, d in
                rmsNormBackward(dInput: d[0], dWeight: d[1], dOutput: p[2], input: p[0], weight: p[1], rstd: p[3],
                                rows: n, channels: c, weightOffset: weightOffset)
            }
            return [g[0], g[1]]
        })
        #expect(report.passed, "\(report)")
    }

    @Test func layerNorm() {
        let (n, c) = (3, 5)
        func forward(_ x: [Tensor]) -> [Tensor] {
            runKernel(inputs: x, outputs: [[n, c], [n], [n]]) { p, y in
                layerNormForward(output: y[0], mean: y[1], rstd: y[2], input: p[0], weight: p[1], bias: p[2], rows: n, channels: c, eps: 1e-5)
            }
        }
        let inputs = [randomTensor([n, c], seed: 10), randomTensor([c], seed: 11), randomTensor([c], seed: 12)]
        let report = checker.check(inputs: inputs, forward: { forward($0)[0] }, backward: { x, dy in
            let saved = forward(x)
            return runKernel(inputs: x + [dy, saved[1], saved[2]], outputs: [[n, c], [c], [c]]) { p, d in
                layerNormBackward(dInput: d[0], dWeight: d[1], dBias: d[2], dOutput: p[3], input: p[0], weight: p[1],
                                  mean: p[4], rstd: p[5], rows: n, channels: c)
            }.map { Optional($0) }
        })
        #expect(report.passed, "\(report)")
    }

    @Test(arguments: Activation.allCases)
    func activation(_ kind: Activation) {
        let x = randomTensor([4, 6], seed: 13, std: 2)
        let report = checker.check(inputs: [x], forward: { x in
            runKernel(inputs: x, outputs: [[4, 6]]) { p, y in activationForward(kind, output: y[0], input: p[0], count: 24) }[0]
        }, backward: { x, dy in
            [runKernel(inputs: x + [dy], outputs: [[4, 6]]) { p, d in activationBackward(kind, dInput: d[0], dOutput: p[1], input: p[0], count: 24) }[0]]
        })
        #expect(report.passed, "\(report)")
    }

    @Test(arguments: Activation.allCases)
    func gatedSite(_ kind: Activation) {
        let inputs = [randomTensor([3, 5], seed: 14, std: 2), randomTensor([3, 5], seed: 15)]
        let report = checker.check(inputs: inputs, forward: { x in
            runKernel(inputs: x, outputs: [[3, 5]]) { p, y in gatedSiteForward(kind, site: y[0], gate: p[0], up: p[1], count: 15) }[0]
        }, backward: { x, dy in
            runKernel(inputs: x + [dy], outputs: [[3, 5], [3, 5]]) { p, d in
                gatedSiteBackward(kind, dGate: d[0], dUp: d[1], dSite: p[2], gate: p[0], up: p[1], count: 15)
            }.map { Optional($0) }
        })
        #expect(report.passed, "\(report)")
    }

    @Test func softmax() {
        let report = checker.check(inputs: [randomTensor([3, 7], seed: 16)], forward: { x in
            runKernel(inputs: x, outputs: [[3, 7]]) { p, y in softmaxForward(output: y[0], input: p[0], rows: 3, columns: 7) }[0]
        }, backward: { x, dy in
            let y = runKernel(inputs: x, outputs: [[3, 7]]) { p, y in softmaxForward(output: y[0], input: p[0], rows: 3, columns: 7) }[0]
            return [runKernel(inputs: [dy, y], outputs: [[3, 7]]) { p, d in softmaxBackward(dInput: d[0], dOutput: p[0], output: p[1], rows: 3, columns: 7) }[0]]
        })
        #expect(report.passed, "\(report)")
    }

    @Test func softCap() {
        let report = checker.check(inputs: [randomTensor([20], seed: 17, std: 20)], forward: { x in
            runKernel(inputs: x, outputs: [[20]]) { p, y in softCapForward(output: y[0], input: p[0], count: 20, cap: 30) }[0]
        }, backward: { x, dy in
            [runKernel(inputs: x + [dy], outputs: [[20]]) { p, d in softCapBackward(dInput: d[0], dOutput: p[1], input: p[0], count: 20, cap: 30) }[0]]
        })
        #expect(report.passed, "\(report)")
    }

    @Test(arguments: RoPELayout.allCases, [4, 6])
    func rope(layout: RoPELayout, rotaryDims: Int) {
        let (n, h, d) = (3, 2, 6)
        let table = RoPETable(positions: [0, 5, 17], rotaryDims: rotaryDims, base: 10_000)
        let report = checker.check(inputs: [randomTensor([n, h, d], seed: 18)], forward: { x in
            runKernel(inputs: x, outputs: [[n, h, d]]) { p, y in ropeForward(layout, output: y[0], input: p[0], table: table, heads: h, headDim: d) }[0]
        }, backward: { x, dy in
            [runKernel(inputs: [dy], outputs: [[n, h, d]]) { p, dx in ropeBackward(layout, dInput: dx[0], dOutput: p[0], table: table, heads: h, headDim: d) }[0]]
        })
        #expect(report.passed, "\(report)")
    }

    static let attentionCases: [(String, AttentionConfig, [Bool]?)] = [
        ("causal GQA", AttentionConfig(batch: 2, queries: 3, heads: 4, kvHeads: 2, headDim: 2, causal: true), nil),
        ("bidirectional, padding", AttentionConfig(batch: 2, queries: 3, heads: 2, kvHeads: 2, headDim: 2, causal: false),
         [true, true, false, true, true, true]),
        ("sliding window 2", AttentionConfig(batch: 1, queries: 4, heads: 2, kvHeads: 1, headDim: 3, causal: true, window: 2), nil),
        ("cached keys, offset", AttentionConfig(batch: 1, queries: 2, keys: 4, heads: 2, kvHeads: 1, headDim: 2, causal: true), nil),
        ("soft-capped scores (Gemma 2)", AttentionConfig(batch: 2, queries: 3, heads: 2, kvHeads: 1, headDim: 2, causal: true, scale: 2.5, softcap: 0.8),
         [true, true, true, true, false, true]),
    ]

    @Test(arguments: 0..<attentionCases.count)
    func attention(caseIndex: Int) {
        let (_, a, keyMask) = Self.attentionCases[caseIndex]
        let qShape = [a.batch, a.queries, a.heads, a.headDim], kShape = [a.batch, a.keys, a.kvHeads, a.headDim]
        let pShape = [a.batch, a.heads, a.queries, a.keys]
        func forward(_ x: [Tensor]) -> [Tensor] {
            runKernel(inputs: x, outputs: [qShape, pShape]) { p, y in
                attentionForward(output: y[0], probabilities: y[1], query: p[0], key: p[1], value: p[2], keyMask: keyMask, config: a)
            }
        }
        let inputs = [randomTensor(qShape, seed: 19), randomTensor(kShape, seed: 20), randomTensor(kShape, seed: 21)]
        let checker = GradientCheck()
        let report = checker.check(inputs: inputs, forward: { forward($0)[0] }, backward: { x, dy in
            let probabilities = forward(x)[1]
            return runKernel(inputs: x + [dy, probabilities], outputs: [qShape, kShape, kShape]) { p, d in
                attentionBackward(dQuery: d[0], dKey: d[1], dValue: d[2], dOutput: p[3], probabilities: p[4],
                                  query: p[0], key: p[1], value: p[2], config: a)
            }.map { Optional($0) }
        })
        #expect(report.passed, "\(Self.attentionCases[caseIndex].0): \(report)")
    }

    @Test(arguments: [false, true])
    func crossEntropy(overCandidates: Bool) {
        let (n, v) = (4, 6)
        let candidates: [Int32]? = overCandidates ? [5, 1, 3] : nil
        let targets: [Int32] = overCandidates ? [0, 2, -1, 1] : [5, 0, -1, 3]
        func loss(_ x: [Tensor]) -> (Tensor, Tensor, Int) {
            var count = 0
            var total = 0.0
            let lse = runKernel(inputs: x, outputs: [[n]]) { p, y in
                (total, count) = crossEntropyForward(logSumExp: y[0], logits: p[0], targets: targets, candidates: candidates, rows: n, vocabulary: v)
            }[0]
            return (Tensor(shape: [1], scalars: [Float(total / Double(count))]), lse, count)
        }
        let report = checker.check(inputs: [randomTensor([n, v], seed: 22, std: 2)], forward: { loss($0).0 }, backward: { x, dy in
            let (_, lse, count) = loss(x)
            return [runKernel(inputs: x + [lse], outputs: [[n, v]]) { p, d in
                crossEntropyBackward(dLogits: d[0], logits: p[0], logSumExp: p[1], targets: targets, candidates: candidates,
                                     rows: n, vocabulary: v, scale: dy.scalars[0] / Float(count))
            }[0]]
        })
        #expect(report.passed, "\(report)")
    }
}
