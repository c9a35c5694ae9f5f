import Testing
import TensorCore
import TestSupport

@Suite struct MatMulTests {
    /// Every transpose combination, with strided operands (lda > width) and beta = 1 accumulation,
    /// against the triple loop.
    @Test(arguments: MatrixLayout.allCases, MatrixLayout.allCases)
    func sgemmMatchesNaive(layoutA: MatrixLayout, layoutB: MatrixLayout) {
        let (m, n, k) = (5, 7, 3)
        let (lda, ldb, ldc) = (layoutA == .normal ? k + 2 : m + 1, layoutB == .normal ? n + 3 : k + 2, n + 1)
        let aRows = layoutA == .normal ? m : k, bRows = layoutB == .normal ? k : n
        let a = randomTensor([aRows, lda], seed: 1), b = randomTensor([bRows, ldb], seed: 2)
        let c0 = randomTensor([m, ldc], seed: 3)
        let results = runKernel(inputs: [a, b, c0], outputs: [[m, ldc], [m, ldc]]) { x, y in
            y[0].update(from: x[2], count: m * ldc)
            y[1].update(from: x[2], count: m * ldc)
            sgemm(layoutA, layoutB, m: m, n: n, k: k, alpha: 0.5, a: x[0], lda: lda, b: x[1], ldb: ldb, beta: 1, c: y[0], ldc: ldc)
            sgemmNaive(layoutA, layoutB, m: m, n: n, k: k, alpha: 0.5, a: x[0], lda: lda, b: x[1], ldb: ldb, beta: 1, c: y[1], ldc: ldc)
        }
        #expect(compareClose(results[0].scalars, results[1].scalars, absolute: 1e-5) == nil)
        // Padding columns beyond n must be untouched.
        for i in 0..<m { #expect(results[0][i, n] == c0[i, n]) }
    }

    @Test func batchedEqualsLoopOfSingles() {
        let (count, m, n, k) = (3, 4, 5, 6)
        let a = randomTensor([count, m, k], seed: 4), b = randomTensor([k, n], seed: 5)
        let out = runKernel(inputs: [a, b], outputs: [[count, m, n], [count, m, n]]) { x, y in
            // strideB = 0 shares one right operand, as a linear layer over a batch does.
            sgemmBatched(.normal, .normal, count: count, m: m, n: n, k: k, a: x[0], lda: k, strideA: m * k,
                         b: x[1], ldb: n, strideB: 0, c: y[0], ldc: n, strideC: m * n)
            for i in 0..<count {
                sgemmNaive(.normal, .normal, m: m, n: n, k: k, a: x[0] + i * m * k, lda: k, b: x[1], ldb: n, c: y[1] + i * m * n, ldc: n)
            }
        }
        #expect(compareClose(out[0].scalars, out[1].scalars, absolute: 1e-5) == nil)
    }

    @Test func emptyInnerDimensionGivesBetaTimesC() {
        let c = Tensor(shape: [2, 2], scalars: [1, 2, .nan, 4])
        let out = runKernel(inputs: [c], outputs: [[2, 2]]) { x, y in
            y[0].update(from: x[0], count: 4)
            var dummy: Float = 0
            sgemm(.normal, .normal, m: 2, n: 2, k: 0, a: &dummy, lda: 1, b: &dummy, ldb: 2, beta: 0, c: y[0], ldc: 2)
        }
        #expect(out[0].scalars == [0, 0, 0, 0])
    }

    @Test func tensorMatmulShapes() {
        let a = randomTensor([3, 4], seed: 6), b = randomTensor([5, 4], seed: 7)
        let c = matmul(a, b, .normal, .transposed)
        #expect(c.shape == [3, 5])
        var expected: Float = 0
        for p in 0..<4 { expected += a[1, p] * b[2, p] }
        #expect(abs(c[1, 2] - expected) < 1e-5)
    }
}
