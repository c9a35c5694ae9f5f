import Testing
import Autodiff
import CBlockKernels
import Optimizers
import TensorCore
import TestSupport

/// A matrix "encoded" as its own Float32 values, in blocks of `granule` columns: the panel products
/// must give exactly what the dense kernels give on the same values.
struct PlainBlocks: EncodedMatrix {
    let values: [Float]
    let shape: [Int]
    let granule: Int
    var encoding: String { "test" }
    var encodedByteCount: Int { 4 * values.count }

    func decode(rows: Range<Int>, columns: Range<Int>, into out: UnsafeMutablePointer<Float>, ld: Int) {
        precondition(columns.lowerBound % granule == 0, "column panel off the blocks")
        for r in rows {
            for c in columns { out[(r - rows.lowerBound) * ld + c - columns.lowerBound] = values[r * shape[1] + c] }
        }
    }
}

@Suite struct EncodedWeightTests {
    /// nil when bit-identical, else how many elements differ and by how much at most.
    static func difference(_ a: Tensor, _ b: Tensor) -> String? {
        guard a.shape == b.shape else { return "shapes \(a.shape) and \(b.shape)" }
        let differing = zip(a.scalars, b.scalars).filter { $0.bitPattern != $1.bitPattern }
        if differing.isEmpty { return nil }
        return "\(differing.count) of \(a.count) elements differ, by up to \(differing.map { abs($0 - $1) }.max()!)"
    }

    /// Several row panels (O = 1000 rows of 4096 take 4 panels) and column groups backward,
    /// with N from a decoding step (1) to a batch (70), with and without a bias: bit for bit.
    @Test(arguments: [1, 3, 70], [false, true])
    func panelProductsEqualTheDenseKernels(rows n: Int, withBias: Bool) {
        let (o, i) = (1000, 4096)
        let w = randomTensor([o, i], seed: 1), x = randomTensor([n, i], seed: 2), dy = randomTensor([n, o], seed: 3)
        let b = randomTensor([o], seed: 4), dx0 = randomTensor([n, i], seed: 5)
        let matrix = PlainBlocks(values: w.scalars, shape: [o, i], granule: 32)
        let decode: PanelDecoder = { rows, columns, out, ld in matrix.decode(rows: rows, columns: columns, into: out, ld: ld) }
        #expect(panelRows(rows: o, width: i) < o && panelColumns(width: i) < i, "several panels each way")
        let out = runKernel(inputs: [x, w, b, dy, dx0], outputs: [[n, o], [n, o], [n, i], [n, i], [n, i], [n, i]]) { p, y in
            let bias = withBias ? p[2] : nil
            linearForward(output: y[0], input: p[0], weight: p[1], bias: bias, rows: n, inFeatures: i, outFeatures: o)
            panelLinearForward(output: y[1], input: p[0], weight: .decoded(decode), bias: bias, rows: n, inFeatures: i, outFeatures: o)
            linearInputGradient(dInput: y[2], dOutput: p[3], weight: p[1], rows: n, inFeatures: i, outFeatures: o, overwrite: true)
            panelLinearInputGradient(dInput: y[3], dOutput: p[3], weight: .decoded(decode), rows: n, inFeatures: i, outFeatures: o, overwrite: true)
            for k in 4..<6 { y[k].update(from: p[4], count: n * i) }
            linearInputGradient(dInput: y[4], dOutput: p[3], weight: p[1], rows: n, inFeatures: i, outFeatures: o)
            panelLinearInputGradient(dInput: y[5], dOutput: p[3], weight: .decoded(decode), rows: n, inFeatures: i, outFeatures: o)
        }
        #expect(Self.difference(out[0], out[1]) == nil, "forward")
        #expect(Self.difference(out[2], out[3]) == nil, "backward, overwriting")
        #expect(Self.difference(out[4], out[5]) == nil, "backward, accumulating")
    }

    /// bf16 products through the panels (several of them, a dense and an encoded weight, a bias, N from a
    /// decoding step to a batch) are the kernels' own products of the rounded operands, plus the bias.
    @Test(arguments: [1, 70])
    func bf16PanelProductsAreTheKernelsProducts(rows n: Int) throws {
        if let why = Precision.bf16.unavailable {
            print("bf16 panel products not tested here: \(why)")
            return
        }
        let (o, i) = (1000, 4096)
        let w = randomTensor([o, i], seed: 11), x = randomTensor([n, i], seed: 12), b = randomTensor([o], seed: 13)
        var (wq, xq) = ([UInt16](repeating: 0, count: o * i), [UInt16](repeating: 0, count: n * i))
        scalpel_bf16_round(w.scalars, Int64(o * i), &wq)
        scalpel_bf16_round(x.scalars, Int64(n * i), &xq)
        var expected = [Float](repeating: 0, count: n * o)
        #expect(scalpel_dot_rows_bf16(wq, Int64(i), Int64(o), xq, Int64(i), Int64(n), Int64(i), &expected, Int64(o),
                                      Int32(SCALPEL_PATH_SCALAR)) == 1)
        for v in 0..<n { for r in 0..<o { expected[v * o + r] += b.scalars[r] } }
        let matrix = PlainBlocks(values: w.scalars, shape: [o, i], granule: 32)
        let decode: PanelDecoder = { rows, columns, out, ld in matrix.decode(rows: rows, columns: columns, into: out, ld: ld) }
        #expect(panelRows(rows: o, width: i) < o, "several panels")
        let out = Precision.$current.withValue(.bf16) {
            runKernel(inputs: [x, w, b], outputs: [[n, o], [n, o]]) { p, y in
                panelLinearForward(output: y[0], input: p[0], weight: .dense(p[1]), bias: p[2], rows: n, inFeatures: i,
                                   outFeatures: o)
                panelLinearForward(output: y[1], input: p[0], weight: .decoded(decode), bias: p[2], rows: n,
                                   inFeatures: i, outFeatures: o)
            }
        }
        let reference = Tensor(shape: [n, o], scalars: expected)
        #expect(Self.difference(out[0], reference) == nil, "dense weight")
        #expect(Self.difference(out[1], reference) == nil, "encoded weight")
    }

    /// A decoding step's products (N ≤ 4: the row products) against a naive product in Double, with
    /// several panels of rows, a bias and a width that ends in a partial group of lanes.
    @Test(arguments: [1, 2, 4])
    func rowProductsMatchANaiveProduct(rows n: Int) {
        let (o, i) = (1000, 300)
        var rng = SeededRandom(seed: UInt64(n))
        let w = Tensor(randomNormal: [o, i], std: 0.05, using: &rng), x = Tensor(randomNormal: [n, i], std: 1, using: &rng)
        let b = Tensor(randomNormal: [o], std: 0.1, using: &rng)
        #expect(panelRows(rows: o, width: i) < o, "several panels")
        var y = [Float](repeating: .nan, count: n * o)
        w.withPointer { wp in x.withPointer { xp in b.withPointer { bp in
            linearForward(output: &y, input: xp, weight: wp, bias: bp, rows: n, inFeatures: i, outFeatures: o)
        } } }
        let (ws, xs, bs) = (w.scalars, x.scalars, b.scalars)
        for v in 0..<n {
            for r in 0..<o {
                let exact = Double(bs[r]) + (0..<i).reduce(0.0) { $0 + Double(ws[r * i + $1]) * Double(xs[v * i + $1]) }
                #expect(abs(Double(y[v * o + r]) - exact) < 1e-4, "y[\(v), \(r)]")
            }
        }
    }

    /// An encoded weight with trainable rows (or columns) against the same weight dense with the same
    /// mask: forward, input gradient, packed weight gradient and an AdamW step, bit for bit; then the
    /// trained slices show through the decoder and `materialized()`.
    @Test(arguments: [GradientMask.Axis.rows, .columns])
    func maskedEncodedWeightTrainsLikeTheDenseOne(axis: GradientMask.Axis) throws {
        let (o, i, n) = (96, 256, 5)
        let w = randomTensor([o, i], seed: 7), xValue = randomTensor([n, i], seed: 8)
        let mask = try GradientMask(parameter: "w", shape: [o, i], axis: axis, indices: axis == .rows ? [0, 17, 95] : [3, 64, 255])
        let dense = try Variable(w, mask: mask, name: "w")
        let encoded = try Variable(encoded: PlainBlocks(values: w.scalars, shape: [o, i], granule: 32), mask: mask, name: "w")
        #expect(encoded.value.shape == mask.packedShape && encoded.shape == [o, i])
        func step(_ weight: Variable) -> (Tensor, Tensor, Tensor) {
            let x = Variable(xValue, requiresGrad: true)
            let y = linear(x, weight: weight)
            let loss = sum(multiply(y, y))
            loss.backward()
            return (y.value, x.grad!, weight.maskedGrad!)
        }
        let (yd, dxd, gd) = step(dense), (ye, dxe, ge) = step(encoded)
        #expect(Self.difference(yd, ye) == nil && Self.difference(dxd, dxe) == nil && Self.difference(gd, ge) == nil)
        for parameter in [dense, encoded] {
            let adam = AdamW(parameters: [parameter], learningRate: 0.01, weightDecay: 0.1)
            adam.step()
        }
        #expect(Self.difference(dense.value, encoded.materialized()) == nil, "the trained slices, and only they, moved")
        let (yd2, _, _) = step(dense), (ye2, _, _) = step(encoded)
        #expect(Self.difference(yd2, ye2) == nil)
    }

    /// The input gradient through an encoded weight, by finite differences.
    @Test func inputGradientThroughAnEncodedWeight() throws {
        let w = randomTensor([40, 64], seed: 9)
        let weight = try Variable(encoded: PlainBlocks(values: w.scalars, shape: [40, 64], granule: 32), mask: nil, name: "w")
        #expect(!weight.requiresGrad)
        let report = GradientCheck().checkOp(inputs: [randomTensor([3, 64], seed: 10)]) { v in linear(v[0], weight: weight) }
        #expect(report.passed, "\(report)")
    }

    /// Rows of an encoded table, looked up without decoding the rest.
    @Test func embeddingOfAnEncodedTable() throws {
        let table = randomTensor([50, 64], seed: 11)
        let encoded = try Variable(encoded: PlainBlocks(values: table.scalars, shape: [50, 64], granule: 32), mask: nil, name: "t")
        let ids: [Int32] = [0, 49, 7, 7]
        #expect(embedding(encoded, ids: ids).value == embedding(Variable(table), ids: ids).value)
    }
}

/// Recomputing a block in the backward (gradient checkpointing): gradients by finite differences, and
/// the same bits as the plain block, for the input and for a masked weight inside it.
@Suite struct RecomputeTests {
    static func block(_ x: Variable, _ w: Variable) -> Variable {
        let h = activation(linear(x, weight: w), .silu)
        return add(multiply(h, h), x)
    }

    @Test func gradientsByFiniteDifferences() {
        let w = Variable(randomTensor([6, 6], seed: 21, std: 0.5), requiresGrad: true)
        let report = GradientCheck().checkOp(inputs: [randomTensor([3, 6], seed: 22)]) { v in
            recomputed(v[0], trainable: [w]) { Self.block($0, w) }
        }
        #expect(report.passed, "\(report)")
        // The weight's own gradient, through the recomputation.
        let weights = GradientCheck().checkOp(inputs: [randomTensor([6, 6], seed: 23, std: 0.5)]) { v in
            recomputed(Variable(randomTensor([3, 6], seed: 24)), trainable: [v[0]]) { Self.block($0, v[0]) }
        }
        #expect(weights.passed, "\(weights)")
    }

    @Test func sameBitsAsThePlainBlock() throws {
        let value = randomTensor([6, 64], seed: 25)
        let mask = try GradientMask(parameter: "w", shape: [64, 64], axis: .rows, indices: [1, 30])
        func run(_ recompute: Bool) throws -> (Tensor, Tensor, Tensor) {
            let w = try Variable(randomTensor([64, 64], seed: 26, std: 0.2), mask: mask, name: "w")
            let x = Variable(value, requiresGrad: true)
            let y = recompute ? recomputed(x, trainable: [w]) { Self.block($0, w) } : Self.block(x, w)
            let z = recompute ? recomputed(y, trainable: [w]) { Self.block($0, w) } : Self.block(y, w)
            sum(multiply(z, z)).backward()
            return (z.value, x.grad!, w.maskedGrad!)
        }
        let (a, b) = (try run(false), try run(true))
        #expect(EncodedWeightTests.difference(a.0, b.0) == nil && EncodedWeightTests.difference(a.1, b.1) == nil
                && EncodedWeightTests.difference(a.2, b.2) == nil)
    }
}
