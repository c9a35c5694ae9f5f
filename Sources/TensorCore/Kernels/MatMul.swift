import CBLAS
import Dispatch

// ----------------------------------------------------------------------------------------------------
// Matrix multiplication through OpenBLAS, row-major throughout.
//
//   C[M, N] = alpha · op(A)[M, K] · op(B)[K, N] + beta · C[M, N]
//
// op(X) is X or Xᵀ. Leading dimensions are row strides, so a matrix can be a strided view into a larger
// buffer (attention reads one head out of [B, T, H, D] this way with lda = H·D). beta = 1 accumulates,
// which is how every backward kernel adds into its gradient.

/// Whether an operand enters the product as stored or transposed.
public enum MatrixLayout: Sendable, CaseIterable {
    case normal, transposed
    var cblas: CBLAS_TRANSPOSE { self == .normal ? CblasNoTrans : CblasTrans }
}

/// C = alpha · op(A) · op(B) + beta · C (OpenBLAS sgemm).
/// - a: [M, K] (or [K, M] when transposed), row stride `lda`
/// - b: [K, N] (or [N, K] when transposed), row stride `ldb`
/// - c: [M, N], row stride `ldc`
public func sgemm(
    _ layoutA: MatrixLayout, _ layoutB: MatrixLayout,
    m: Int, n: Int, k: Int,
    alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0,
    c: UnsafeMutablePointer<Float>, ldc: Int
) {
    if m == 0 || n == 0 { return }
    if k == 0 {
        // BLAS leaves C·beta; make that explicit so beta = 0 also clears NaNs in C.
        for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
        return
    }
    _ = blasRunsSingleThreaded
    let cores = Parallelism.cores
    // Split a product when it is big in arithmetic, or when it reads a big operand: a decoding step's
    // matrix-vector products (m = 1) are bound by reading the weights, which two cores do faster than one.
    // Small products (attention's per-head ones, which already run in parallel) stay on one core.
    guard cores > 1, 2 * m * n * k >= 1 << 23 || m * k + k * n >= 1 << 18 else {
        cblas_sgemm(CblasRowMajor, layoutA.cblas, layoutB.cblas, Int32(m), Int32(n), Int32(k), alpha,
                    a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        return
    }
    // Split the wider of the two output dimensions into one block per core, in multiples of 16 so the
    // kernel's unrolled edges fall where they would unsplit. Each C element is still one full K sum,
    // so the result does not depend on the split.
    let splitColumns = n >= m
    let extent = splitColumns ? n : m
    let block = ((extent + cores - 1) / cores + 15) / 16 * 16
    let parts = (extent + block - 1) / block
    let operands = UncheckedSendable((a, b, c))
    DispatchQueue.concurrentPerform(iterations: parts) { part in
        let (a, b, c) = operands.value
        let start = part * block, size = min(block, extent - start)
        if splitColumns {
            let bPart = layoutB == .normal ? b + start : b + start * ldb
            cblas_sgemm(CblasRowMajor, layoutA.cblas, layoutB.cblas, Int32(m), Int32(size), Int32(k), alpha,
                        a, Int32(lda), bPart, Int32(ldb), beta, c + start, Int32(ldc))
        } else {
            let aPart = layoutA == .normal ? a + start * lda : a + start
            cblas_sgemm(CblasRowMajor, layoutA.cblas, layoutB.cblas, Int32(size), Int32(n), Int32(k), alpha,
                        aPart, Int32(lda), b, Int32(ldb), beta, c + start * ldc, Int32(ldc))
        }
    }
}

/// OpenBLAS's own pool busy-waits between calls and then competes with Scalpel's loops for the same
/// cores; one thread pool (Dispatch) for everything avoids that. Set once, before the first product.
let blasRunsSingleThreaded: Void = { openblas_set_num_threads(1) }()

/// `count` independent products C_i = alpha · op(A_i) · op(B_i) + beta · C_i, where operand i starts
/// `strideA·i` (`strideB·i`, `strideC·i`) elements after the first. A stride of 0 reuses one operand.
public func sgemmBatched(
    _ layoutA: MatrixLayout, _ layoutB: MatrixLayout,
    count: Int, m: Int, n: Int, k: Int,
    alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, strideA: Int,
    b: UnsafePointer<Float>, ldb: Int, strideB: Int,
    beta: Float = 0,
    c: UnsafeMutablePointer<Float>, ldc: Int, strideC: Int
) {
    for i in 0..<count {
        sgemm(layoutA, layoutB, m: m, n: n, k: k, alpha: alpha,
              a: a + i * strideA, lda: lda, b: b + i * strideB, ldb: ldb,
              beta: beta, c: c + i * strideC, ldc: ldc)
    }
}

/// The triple loop, kept as the algorithmic reference for tests and as the benchmark baseline.
/// Same contract as `sgemm`; sums in Float in k order.
public func sgemmNaive(
    _ layoutA: MatrixLayout, _ layoutB: MatrixLayout,
    m: Int, n: Int, k: Int,
    alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0,
    c: UnsafeMutablePointer<Float>, ldc: Int
) {
    for i in 0..<m {
        for j in 0..<n {
            var sum: Float = 0
            for p in 0..<k {
                let av = layoutA == .normal ? a[i * lda + p] : a[p * lda + i]
                let bv = layoutB == .normal ? b[p * ldb + j] : b[j * ldb + p]
                sum += av * bv
            }
            c[i * ldc + j] = alpha * sum + (beta == 0 ? 0 : beta * c[i * ldc + j])
        }
    }
}

/// Tensor-level product of two matrices: op(a) · op(b).
/// - a: [M, K] ([K, M] if transposed); b: [K, N] ([N, K] if transposed) → [M, N]
public func matmul(_ a: Tensor, _ b: Tensor, _ layoutA: MatrixLayout = .normal,
                   _ layoutB: MatrixLayout = .normal) -> Tensor {
    precondition(a.rank == 2 && b.rank == 2, "matmul: needs matrices, got \(a.shape) and \(b.shape)")
    let (m, k) = layoutA == .normal ? (a.shape[0], a.shape[1]) : (a.shape[1], a.shape[0])
    let (k2, n) = layoutB == .normal ? (b.shape[0], b.shape[1]) : (b.shape[1], b.shape[0])
    precondition(k == k2, "matmul: inner dimensions differ, \(a.shape) and \(b.shape)")
    var c = Tensor(shape: [m, n])
    a.scalars.withUnsafeBufferPointer { ap in
        b.scalars.withUnsafeBufferPointer { bp in
            c.scalars.withUnsafeMutableBufferPointer { cp in
                sgemm(layoutA, layoutB, m: m, n: n, k: k, a: ap.baseAddress!, lda: a.shape[1],
                      b: bp.baseAddress!, ldb: b.shape[1], c: cp.baseAddress!, ldc: n)
            }
        }
    }
    return c
}
