/// Ranks 1…n of `values`, ties given the average of the ranks they span (the convention Spearman's ρ
/// needs so that it equals Pearson's r on the ranks). Concrete on [Double] so the sort is specialized:
/// ranking is the inner loop of Spearman and MI over every neuron.
public func averageRanks(_ values: [Double]) -> [Double] {
    let n = values.count
    var order = [Int32](repeating: 0, count: n)
    for i in 0..<n { order[i] = Int32(i) }
    var ranks = [Double](repeating: 0, count: n)
    values.withUnsafeBufferPointer { v in
        order.sort { v[Int($0)] < v[Int($1)] }
        var start = 0
        while start < n {
            var end = start + 1
            while end < n && v[Int(order[end])] == v[Int(order[start])] { end += 1 }
            let rank = Double(start + end + 1) / 2   // mean of the 1-based ranks start+1 … end
            for i in start..<end { ranks[Int(order[i])] = rank }
            start = end
        }
    }
    return ranks
}

/// Pearson's r of two equally long columns, by the two-pass formula in Double; NaN when one is constant.
public func pearsonTwoPass(_ x: [Double], _ y: [Double]) -> Double {
    precondition(x.count == y.count && !x.isEmpty, "pearsonTwoPass: columns of different lengths")
    let n = Double(x.count)
    let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
    var sxy = 0.0, sxx = 0.0, syy = 0.0
    for i in x.indices {
        let dx = x[i] - mx, dy = y[i] - my
        sxy += dx * dy; sxx += dx * dx; syy += dy * dy
    }
    guard sxx > 0, syy > 0 else { return .nan }
    return max(-1, min(1, sxy / (sxx * syy).squareRoot()))
}

/// Spearman's ρ: Pearson's r of the average ranks.
public func spearman(_ x: [Double], _ y: [Double]) -> Double {
    pearsonTwoPass(averageRanks(x), averageRanks(y))
}

/// Column j scaled to mean 0 and Euclidean norm 1, so that the dot product of two such columns is their
/// Pearson r. nil when the column is constant.
public func standardized(_ x: [Double]) -> [Double]? {
    let n = Double(x.count)
    let mean = x.reduce(0, +) / n
    let centered = x.map { $0 - mean }
    let norm = centered.reduce(0) { $0 + $1 * $1 }.squareRoot()
    guard norm > 0 else { return nil }
    return centered.map { $0 / norm }
}
