import CBLAS
import TensorCore

/// Streaming, mergeable first and second moments of N activation columns against M metric columns,
/// kept in Double: means, sums of squared deviations, and the N×M cross co-moments.
///
/// Batches are folded in with Chan, Golub & LeVeque's pairwise update (1979): each batch's own centered
/// moments (one dgemm for the cross term) are merged with the running ones through the difference of the
/// means, so no raw sums of squares are ever formed and a shard's accumulator merges exactly like a batch.
/// Pearson r and the predictivity threshold (the training mean) are read off at the end.
public struct CoMoments: Sendable, Equatable {
    public let columns: Int                 // N
    public let metrics: Int                 // M
    public private(set) var count: Int = 0
    public private(set) var meanX: [Double]   // [N]
    public private(set) var squaresX: [Double] // [N]   Σ (x − x̄)²
    public private(set) var meanY: [Double]   // [M]
    public private(set) var squaresY: [Double] // [M]   Σ (y − ȳ)²
    public private(set) var cross: [Double]    // [N, M] Σ (x − x̄)(y − ȳ)

    public init(columns: Int, metrics: Int) {
        self.columns = columns
        self.metrics = metrics
        meanX = [Double](repeating: 0, count: columns)
        squaresX = meanX
        meanY = [Double](repeating: 0, count: metrics)
        squaresY = meanY
        cross = [Double](repeating: 0, count: columns * metrics)
    }

    /// Restores an accumulator from its stored parts (a shard file).
    public init(count: Int, meanX: [Double], squaresX: [Double], meanY: [Double], squaresY: [Double], cross: [Double]) {
        precondition(meanX.count == squaresX.count && meanY.count == squaresY.count &&
                     cross.count == meanX.count * meanY.count,
                     "CoMoments: parts of inconsistent sizes")
        columns = meanX.count
        metrics = meanY.count
        self.count = count
        self.meanX = meanX; self.squaresX = squaresX
        self.meanY = meanY; self.squaresY = squaresY
        self.cross = cross
    }

    /// Folds in a batch. - x: [b, N] row-major; - y: [b, M] row-major.
    ///
    /// The batch's own moments are exact two-pass sums in Double (means first, then Σ(x − x̄)² and
    /// Σ(x − x̄)(y − ȳ)), in column blocks spread over the cores; no [b, N] Double copy is ever made.
    public mutating func add(x: [Float], y: [Double], rows b: Int) {
        precondition(x.count == b * columns && y.count == b * metrics,
                     "CoMoments.add: batch shapes do not match \(b)×\(columns) and \(b)×\(metrics)")
        guard b > 0 else { return }
        var batch = CoMoments(columns: columns, metrics: metrics)
        batch.count = b
        let inverse = 1 / Double(b)
        var yc = [Double](repeating: 0, count: b * metrics)   // [b, M] centered metrics
        for r in 0..<b { for m in 0..<metrics { batch.meanY[m] += y[r * metrics + m] } }
        for m in 0..<metrics { batch.meanY[m] *= inverse }
        for r in 0..<b { for m in 0..<metrics {
            let d = y[r * metrics + m] - batch.meanY[m]
            yc[r * metrics + m] = d
            batch.squaresY[m] += d * d
        } }
        let (n, k) = (columns, metrics)
        x.withUnsafeBufferPointer { xp in yc.withUnsafeBufferPointer { yp in
        batch.meanX.withUnsafeMutableBufferPointer { mean in batch.squaresX.withUnsafeMutableBufferPointer { squares in
        batch.cross.withUnsafeMutableBufferPointer { cross in
            parallelChunks(n, minimumPerChunk: 2048) { range in
                let width = range.count
                // Column-major scratch for this block's cross terms: [M, width], so the inner loop is contiguous.
                var local = [Double](repeating: 0, count: k * width)
                for r in 0..<b {
                    let row = xp.baseAddress! + r * n + range.lowerBound
                    for i in 0..<width { mean[range.lowerBound + i] += Double(row[i]) }
                }
                for i in 0..<width { mean[range.lowerBound + i] *= inverse }
                local.withUnsafeMutableBufferPointer { acc in
                    for r in 0..<b {
                        let row = xp.baseAddress! + r * n + range.lowerBound
                        let centre = mean.baseAddress! + range.lowerBound
                        let square = squares.baseAddress! + range.lowerBound
                        for i in 0..<width {
                            let d = Double(row[i]) - centre[i]
                            square[i] += d * d
                        }
                        for m in 0..<k {
                            let w = yp[r * k + m]
                            let out = acc.baseAddress! + m * width
                            for i in 0..<width { out[i] += (Double(row[i]) - centre[i]) * w }
                        }
                    }
                }
                for i in 0..<width { for m in 0..<k { cross[(range.lowerBound + i) * k + m] = local[m * width + i] } }
            }
        } } } } }
        merge(batch)
    }

    /// Chan's update: the moments of the union of two disjoint sets of rows.
    public mutating func merge(_ other: CoMoments) {
        precondition(other.columns == columns && other.metrics == metrics, "CoMoments.merge: different shapes")
        guard other.count > 0 else { return }
        guard count > 0 else { self = other; return }
        let na = Double(count), nb = Double(other.count), n = na + nb
        let weight = na * nb / n
        var dx = [Double](repeating: 0, count: columns), dy = [Double](repeating: 0, count: metrics)
        for j in 0..<columns {
            dx[j] = other.meanX[j] - meanX[j]
            squaresX[j] += other.squaresX[j] + dx[j] * dx[j] * weight
            meanX[j] += dx[j] * nb / n
        }
        for m in 0..<metrics {
            dy[m] = other.meanY[m] - meanY[m]
            squaresY[m] += other.squaresY[m] + dy[m] * dy[m] * weight
            meanY[m] += dy[m] * nb / n
        }
        for j in 0..<columns { for m in 0..<metrics {
            cross[j * metrics + m] += other.cross[j * metrics + m] + dx[j] * dy[m] * weight
        } }
        count += other.count
    }

    /// Sample standard deviation (n − 1) of each activation column. [N]
    public var standardDeviationX: [Double] { squaresX.map { count > 1 ? ($0 / Double(count - 1)).squareRoot() : 0 } }

    /// Whether column j is constant: its standard deviation is below 1e-6 × max(1, |mean|), the level at
    /// which Float32 rounding, not the input, makes the differences.
    public func isConstant(_ j: Int) -> Bool {
        let sd = count > 1 ? (squaresX[j] / Double(count - 1)).squareRoot() : 0
        return !(sd > 1e-6 * max(1, abs(meanX[j])))
    }

    /// Pearson r of column j against metric m; NaN when either side is constant.
    public func pearson(_ j: Int, _ m: Int) -> Double {
        let denominator = (squaresX[j] * squaresY[m]).squareRoot()
        guard denominator > 0, !isConstant(j) else { return .nan }
        return max(-1, min(1, cross[j * metrics + m] / denominator))
    }
}
