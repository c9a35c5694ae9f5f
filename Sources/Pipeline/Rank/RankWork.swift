import ActivationStores
import Foundation
import Recipes
import Statistics

/// One ranking in progress: the activation store it reads, each metric's context, and the score tables
/// that `RankStage.compute` fills and selects from, step by step.
///
///     scores[m][statistic] = (score, p)      each [positions × columns], NaN where not scored
///     qValues[m][statistic]                  Benjamini–Hochberg over one metric and statistic
struct RankWork {
    let stage: RankStage
    let options: RankStage.Options
    let quiet: Bool
    let reader: ActivationStoreReader
    let header: ActivationStore.Header
    let train: Range<Int>, dev: Range<Int>
    let primary: String, primaryIndex: Int
    let scorer: NeuronScorer
    /// The scorable metrics, by index; the others, with the reason, by name.
    var contexts: [Int: NeuronScorer.MetricContext] = [:]
    var excluded: [String: String] = [:]
    var scores: [Int: [NeuronStatistic: (score: [Double], p: [Double])]] = [:]
    var qValues: [Int: [NeuronStatistic: [Double]]] = [:]
    /// Neurons constant on the training rows, by position name.
    var constantCounts: [String: Int] = [:]

    var columns: Int { header.columns }
    var positions: Int { header.positions.count }
    var recipeFile: String { stage.experiment.recipeFile }

    /// Opens the store, resolves the selection metric, and builds each metric's context.
    init(stage: RankStage, options: RankStage.Options, quiet: Bool) throws {
        self.stage = stage
        self.options = options
        self.quiet = quiet
        reader = try ActivationStoreReader(url: stage.folder.activationStore)
        header = reader.header
        train = reader.trainRows
        dev = reader.devRows
        guard train.count >= 3 else {
            throw CollectError.corruptStore(path: reader.file.name,
                                            detail: "only \(train.count) training rows were collected; " +
                                            "correlations need at least 3")
        }
        primary = options.metric ?? header.metrics.first ?? ""
        guard let primaryIndex = header.metrics.firstIndex(of: primary) else {
            throw Self.notCollected(primary, key: "rank.metric", stage: stage, metrics: header.metrics)
        }
        self.primaryIndex = primaryIndex
        if options.permutations < 1000 && !quiet {
            ProgressReporter.say("rank: warning: \(options.permutations) permutations; " +
                                 "use 1000 or more for reportable p-values")
        }
        scorer = NeuronScorer(trainRows: train.count, devRows: dev.count, permutations: options.permutations,
                              seeds: (stage.seed(.permutations, 0), stage.seed(.permutations, 1)))
        try buildContexts()
    }

    static func notCollected(_ metric: String, key: String, stage: RankStage, metrics: [String]) -> RecipeErrors {
        RecipeErrors(file: stage.experiment.recipeFile, issues: [RecipeIssue(
            path: key, line: stage.experiment.recipe.node(key)?.mark?.line,
            message: "'\(metric)' was not collected; the collected metrics are \(metrics.joined(separator: ", "))")])
    }

    /// A context per metric that varies on the training rows; the selection metric must be one.
    mutating func buildContexts() throws {
        for (m, name) in header.metrics.enumerated() {
            let values = reader.metric(m, rows: train)
            if let context = scorer.context(name: name, train: values, dev: reader.metric(m, rows: dev)) {
                contexts[m] = context
            } else {
                excluded[name] = "it has a single value (\(values.first ?? .nan)) on the \(train.count) " +
                    "training rows, so nothing can correlate with it"
            }
        }
        if let reason = excluded[primary] {
            throw CollectError.badPlan(path: recipeFile,
                                       detail: "the selection metric '\(primary)' cannot be scored: \(reason); " +
                                       "choose another with rank.metric")
        }
        if !quiet {
            for (name, reason) in excluded.sorted(by: { $0.key < $1.key }) {
                ProgressReporter.say("rank: metric '\(name)' excluded: \(reason)")
            }
        }
    }

    /// Fills the score tables block by block: every position, every column block, every metric.
    mutating func scoreEveryNeuron() throws {
        let statistics = Set(options.statistics)
        for (m, context) in contexts {
            // Predictivity is defined for binary labels only; other metrics get no table for it.
            let applicable = statistics.filter { $0 != .predictivity || context.predictivityY != nil }
            scores[m] = Dictionary(uniqueKeysWithValues: applicable.map {
                ($0, ([Double](repeating: .nan, count: positions * columns),
                      [Double](repeating: .nan, count: positions * columns)))
            })
        }
        // Columns per block: up to 2048, fewer when there are many rows (per-token stores), so that a block's
        // values, ranks and bins (about 24 bytes per row and column) stay within 256 MB.
        let blockWidth = max(16, min(2048, (256 << 20) / max(1, 24 * train.count)))
        let blocks = (columns + blockWidth - 1) / blockWidth
        let progress = ProgressReporter("rank", total: positions * blocks, unit: "blocks")
        progress.quiet = quiet
        for p in 0..<positions {
            let moments = reader.moments[p]
            let constant = (0..<columns).map { moments.isConstant($0) }
            constantCounts[header.positions[p]] = constant.filter { $0 }.count
            for blockIndex in 0..<blocks {
                let range = (blockIndex * blockWidth)..<min(columns, (blockIndex + 1) * blockWidth)
                try scoreBlock(position: p, columns: range, constant: Array(constant[range]),
                               statistics: statistics)
                progress.update(p * blocks + blockIndex + 1)
            }
        }
    }

    /// One block of columns at one position, against every metric.
    mutating func scoreBlock(position p: Int, columns range: Range<Int>, constant: [Bool],
                             statistics: Set<NeuronStatistic>) throws {
        let moments = reader.moments[p]
        let trainBlock = try reader.block(position: p, rows: train, columns: range)
        let devBlock = dev.isEmpty ? [] : try reader.block(position: p, rows: dev, columns: range)
        let block = scorer.prepare(train: trainBlock, dev: devBlock, columns: range.count,
                                   means: moments.meanX[range], squares: moments.squaresX[range], constant: constant)
        for (m, context) in contexts {
            let pearson = range.map { moments.pearson($0, m) }
            let result = scorer.score(block, metric: context, pearson: pearson, statistics: statistics)
            // Take each table out of the dictionary while writing it, so the writes do not copy it.
            var tables = scores.removeValue(forKey: m)!
            for (statistic, values) in result {
                guard var table = tables.removeValue(forKey: statistic) else { continue }
                let base = p * columns + range.lowerBound
                table.score.replaceSubrange(base..<(base + range.count), with: values.score)
                table.p.replaceSubrange(base..<(base + range.count), with: values.p)
                tables[statistic] = table
            }
            scores[m] = tables
        }
    }

    /// q-values per metric and statistic.
    mutating func correctForMultipleTests() {
        for (m, byStatistic) in scores { qValues[m] = byStatistic.mapValues { benjaminiHochberg($0.p) } }
    }

    /// Each neuron at its best position (largest |score|) for one metric and statistic.
    func neurons(_ m: Int, _ statistic: NeuronStatistic) -> [ScoredNeuron] {
        guard let table = scores[m]?[statistic], let q = qValues[m]?[statistic] else { return [] }
        return (0..<columns).map { j in
            var best = -1
            for p in 0..<positions where !table.score[p * columns + j].isNaN {
                if best < 0 || abs(table.score[p * columns + j]) > abs(table.score[best * columns + j]) { best = p }
            }
            let layer = header.layers[j / header.neuronsPerLayer], neuron = j % header.neuronsPerLayer
            guard best >= 0 else {
                return ScoredNeuron(layer: layer, neuron: neuron, position: 0, score: .nan, pValue: .nan, qValue: .nan)
            }
            let at = best * columns + j
            return ScoredNeuron(layer: layer, neuron: neuron, position: best,
                                score: table.score[at], pValue: table.p[at], qValue: q[at])
        }
    }

    /// The column index of a neuron in the store.
    func column(_ n: ScoredNeuron) -> Int {
        header.layers.firstIndex(of: n.layer)! * header.neuronsPerLayer + n.neuron
    }

    /// Selections, intervals and the figures of each metric, in the store's metric order.
    mutating func metricReports() throws -> [RankStage.MetricReport] {
        let statistic = options.statistic
        if statistic == .predictivity, contexts[primaryIndex]?.predictivityY == nil {
            throw CollectError.badPlan(path: recipeFile,
                                       detail: "predictivity needs a binary (0/1) selection metric and a dev split; " +
                                       "'\(primary)' is not one — choose rank.statistic: pearson, " +
                                       "or a label metric")
        }
        var reports: [RankStage.MetricReport] = []
        var columnCache: [Int: (train: [Double], dev: [Double])] = [:]
        for (m, name) in header.metrics.enumerated() {
            if contexts[m] != nil && scores[m]?[statistic] == nil {
                excluded[name] = "\(statistic.rawValue) needs a binary (0/1) metric"
            }
            guard let context = contexts[m], scores[m]?[statistic] != nil else {
                reports.append(RankStage.MetricReport(metric: name, excluded: excluded[name], top: [], selection: [],
                                                      intervals: [], topPredictivity: nil))
                continue
            }
            reports.append(try report(m, name: name, context: context, cache: &columnCache))
        }
        return reports
    }

    /// One metric's top neurons, selection and bootstrap intervals.
    func report(_ m: Int, name: String, context: NeuronScorer.MetricContext,
                cache: inout [Int: (train: [Double], dev: [Double])]) throws -> RankStage.MetricReport {
        let statistic = options.statistic
        let scored = neurons(m, statistic)
        let top = SelectionRule.topK(50).select(scored)
        let selection = options.rule.select(scored)
        var intervals: [(low: Double, high: Double)?] = []
        if options.bootstrap > 0 {
            for (rank, n) in selection.enumerated() {
                let (x, devX) = try values(n, cache: &cache)
                let threshold = reader.moments[n.position].meanX[column(n)]
                let draw = stage.seed(.scoreBootstrap, m * 100_000 + rank)
                intervals.append(RankStage.bootstrap(statistic, x: x, y: context.train, devX: devX, devY: context.dev,
                                                     threshold: threshold,
                                                     bins: scorer.activationBins, metricBins: context.bins,
                                                     resamples: options.bootstrap, seed: draw))
            }
        }
        var topPredictivity: [Double]?
        if context.binary, let table = scores[m]?[.predictivity] {
            topPredictivity = top.prefix(10).map { n in table.score[n.position * columns + column(n)] }
        }
        return RankStage.MetricReport(metric: name, excluded: nil, top: Array(top.prefix(50)), selection: selection,
                                      intervals: intervals, topPredictivity: topPredictivity)
    }

    /// A neuron's training and dev values at its best position, read once.
    func values(_ n: ScoredNeuron,
                cache: inout [Int: (train: [Double], dev: [Double])]) throws -> (train: [Double], dev: [Double]) {
        let j = column(n)
        let key = n.position * columns + j
        if let cached = cache[key] { return cached }
        let t = try reader.block(position: n.position, rows: train, columns: j..<(j + 1)).map(Double.init)
        let d = dev.isEmpty ? [] : try reader.block(position: n.position, rows: dev, columns: j..<(j + 1))
            .map(Double.init)
        cache[key] = (t, d)
        return (t, d)
    }

    /// The neurons that track `rank.contrast`'s first metric more than its second, if the recipe asks.
    func contrast() throws -> MetricContrast? {
        guard let (a, b) = options.contrast else { return nil }
        for name in [a, b] where !header.metrics.contains(name) {
            throw Self.notCollected(name, key: "rank.contrast", stage: stage, metrics: header.metrics)
        }
        let statistic = options.statistic
        let ia = header.metrics.firstIndex(of: a)!, ib = header.metrics.firstIndex(of: b)!
        if let ta = scores[ia]?[statistic], let tb = scores[ib]?[statistic] {
            return MetricContrast.compute(a: a, b: b, scoreA: ta.score, qA: qValues[ia]![statistic]!,
                                          scoreB: tb.score, qB: qValues[ib]![statistic]!,
                                          positions: positions, columns: columns, layers: header.layers,
                                          neuronsPerLayer: header.neuronsPerLayer)
        }
        if !quiet {
            // The ranking itself stands; only the comparison is impossible (e.g. a model that never answers right).
            let missing = scores[ia]?[statistic] == nil ? a : b
            ProgressReporter.say("rank: warning: no contrast of \(a) with \(b): " +
                                 "\(missing) has no \(statistic.rawValue) scores " +
                                 "(\(excluded[missing] ?? "not scored"))")
        }
        return nil
    }
}
