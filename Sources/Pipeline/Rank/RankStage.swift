import Foundation
import HDF5Kit
import Recipes
import Statistics

/// Stage 4: score every recorded neuron × position against every metric, attach permutation p-values and
/// Benjamini–Hochberg q-values, rank the neurons, select them, and put bootstrap intervals on the
/// selected neurons' scores. Writes `/rank` of the evidence archive.
///
/// A neuron's score for a metric is taken at its best position (largest |score|); for predictivity over
/// soft-prompt positions this is Wang et al.'s maximum over prompt positions. The q-values are computed
/// over every neuron × position of one metric and statistic: that is the family the maximum was taken in.
public struct RankStage: Stage {
    public static let name = StageName.rank
    public static let dependencies: [StageName] = [.collect]

    public struct MetricReport: Sendable {
        public var metric: String
        /// Why the metric was not scored (it has a single value on the training rows), if it was not.
        public var excluded: String?
        /// The best neurons by the selection statistic, strongest first (at least 10 when there are 10).
        public var top: [ScoredNeuron]
        public var selection: [ScoredNeuron]
        /// Bootstrap 95% intervals of the selected neurons' scores, in `selection` order.
        public var intervals: [(low: Double, high: Double)?]
        /// Predictivity (|acc − ½| on dev) of the `top` neurons, for binary metrics.
        public var topPredictivity: [Double]?
    }

    public struct Result: Sendable {
        public var statistic: NeuronStatistic
        public var rule: SelectionRule
        public var primaryMetric: String
        public var reports: [MetricReport]
        public var constantNeurons: [String: Int]   // by position
        public var overlaps: [(a: String, b: String, jaccard: Double, shared: [NeuronKey])]
        /// The neurons that track `rank.contrast`'s first metric more than its second, if the recipe asks.
        public var contrast: MetricContrast? = nil
        public var permutations: Int
        public var trainRows: Int
        public var devRows: Int
        public var archive: String
        public var reused: Bool
    }

    public let place: StagePlace
    public init(_ place: StagePlace) { self.place = place }

    public struct Options {
        var statistics: [NeuronStatistic]
        var statistic: NeuronStatistic
        var metric: String?
        var permutations: Int
        var rule: SelectionRule
        var bootstrap: Int
        var contrast: (String, String)?
    }

    public func options() throws -> Options {
        let r = experiment.recipe, s = r.settings
        var problems = RecipeProblems(r, file: experiment.recipeFile)
        var statistics: [NeuronStatistic] = []
        for entry in s.list("rank.statistics")! {
            if let s = NeuronStatistic(rawValue: entry) { statistics.append(s) } else {
                problems.add("rank.statistics", "'\(entry)' is not a statistic; " +
                             "use \(NeuronStatistic.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        let statistic = NeuronStatistic(rawValue: s.string("rank.statistic")!) ?? .pearson
        if !statistics.contains(statistic) { statistics.append(statistic) }
        let permutations = s.int("rank.permutations")!
        let rules = [r.int("rank.top_k") != nil, r.number("rank.per_layer_fraction") != nil,
                     r.number("rank.q_threshold") != nil].filter { $0 }.count
        if rules > 1 { problems.add("rank", "give one of top_k, per_layer_fraction and q_threshold") }
        var rule = SelectionRule.topK(s.int("rank.top_k")!)
        if let f = r.number("rank.per_layer_fraction") { rule = .perLayerFraction(f) }
        if let q = r.number("rank.q_threshold") { rule = .qBelow(q) }
        let bootstrap = s.int("rank.bootstrap")!
        var contrast: (String, String)?
        if let pair = r.list("rank.contrast") {
            if pair.count == 2 && pair[0] != pair[1] { contrast = (pair[0], pair[1]) }
            else {
                problems.add("rank.contrast", "give two different metrics, [a, b], " +
                             "to find the neurons that track a more than b")
            }
        }
        try problems.check()
        return Options(statistics: statistics, statistic: statistic, metric: r.string("rank.metric"),
                       permutations: permutations,
                       rule: rule, bootstrap: bootstrap, contrast: contrast)
    }

    /// The activation store it reads.
    public func dependencyInputs() throws -> [String: String] {
        let store = folder.url.appendingPathComponent("collect/activations.h5")
        guard FileManager.default.fileExists(atPath: store.path) else {
            throw CollectError.corruptStore(path: store.path,
                                            detail: "there is no activation store; " +
                                            "run `scalpel collect \(experiment.recipeFile)` first " +
                                            "(or `scalpel merge` after sharded collection)")
        }
        return ["store": try SHA256.file(store.path)]
    }

    public func reuse(_ record: RunFolder.StageRecord) throws -> Result {
        try Self.load(EvidenceArchive.url(folder), done: record)
    }

    public func compute(_ run: StageRun<Options>) throws -> StageOutcome<Result> {
        let options = run.options, quiet = run.quiet
        let reader = try ActivationStoreReader(url: folder.url.appendingPathComponent("collect/activations.h5"))
        let header = reader.header
        let train = reader.trainRows, dev = reader.devRows
        guard train.count >= 3 else {
            throw CollectError.corruptStore(path: reader.file.name,
                                            detail: "only \(train.count) training rows were collected; " +
                                            "correlations need at least 3")
        }
        let primary = options.metric ?? header.metrics.first ?? ""
        guard let primaryIndex = header.metrics.firstIndex(of: primary) else {
            throw RecipeErrors(file: experiment.recipeFile, issues: [RecipeIssue(path: "rank.metric",
                               line: experiment.recipe.node("rank.metric")?.mark?.line,
                               message: "'\(primary)' was not collected; " +
                                   "the collected metrics are \(header.metrics.joined(separator: ", "))")])
        }
        if options.permutations < 1000 && !quiet {
            ProgressReporter.say("rank: warning: \(options.permutations) permutations; " +
                                 "use 1000 or more for reportable p-values")
        }

        let scorer = NeuronScorer(trainRows: train.count, devRows: dev.count, permutations: options.permutations,
                                  seeds: (seed(.permutations, 0), seed(.permutations, 1)))
        var contexts: [Int: NeuronScorer.MetricContext] = [:]
        var excluded: [String: String] = [:]
        for (m, name) in header.metrics.enumerated() {
            let values = reader.metric(m, rows: train)
            if let context = scorer.context(name: name, train: values, dev: reader.metric(m, rows: dev)) {
                contexts[m] = context
            }
            else {
                excluded[name] = "it has a single value (\(values.first ?? .nan)) on the \(train.count) " +
                    "training rows, so nothing can correlate with it"
            }
        }
        if let reason = excluded[primary] {
            throw CollectError.badPlan(path: experiment.recipeFile,
                                       detail: "the selection metric '\(primary)' cannot be scored: \(reason); " +
                                       "choose another with rank.metric")
        }
        if !quiet {
            for (name, reason) in excluded.sorted(by: { $0.key < $1.key }) {
                ProgressReporter.say("rank: metric '\(name)' excluded: \(reason)")
            }
        }

        let columns = header.columns, positions = header.positions.count
        let statistics = Set(options.statistics)
        // scores[m][statistic] = (score, p) over [positions, columns]
        var scores: [Int: [NeuronStatistic: (score: [Double], p: [Double])]] = [:]
        for (m, context) in contexts {
            // Predictivity is defined for binary labels only; other metrics get no table for it.
            let applicable = statistics.filter { $0 != .predictivity || context.predictivityY != nil }
            scores[m] = Dictionary(uniqueKeysWithValues: applicable.map {
                ($0, ([Double](repeating: .nan, count: positions * columns),
                      [Double](repeating: .nan, count: positions * columns)))
            })
        }
        var constantCounts: [String: Int] = [:]
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
                let trainBlock = try reader.block(position: p, rows: train, columns: range)
                let devBlock = dev.isEmpty ? [] : try reader.block(position: p, rows: dev, columns: range)
                let block = scorer.prepare(train: trainBlock, dev: devBlock, columns: range.count,
                                           means: moments.meanX[range],
                                           squares: moments.squaresX[range], constant: Array(constant[range]))
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
                progress.update(p * blocks + blockIndex + 1)
            }
        }

        // q-values per metric and statistic, then each neuron at its best position.
        var qValues: [Int: [NeuronStatistic: [Double]]] = [:]
        for (m, byStatistic) in scores { qValues[m] = byStatistic.mapValues { benjaminiHochberg($0.p) } }
        func neurons(_ m: Int, _ statistic: NeuronStatistic) -> [ScoredNeuron] {
            guard let table = scores[m]?[statistic], let q = qValues[m]?[statistic] else { return [] }
            return (0..<columns).map { j in
                var best = -1
                for p in 0..<positions where !table.score[p * columns + j].isNaN {
                    if best < 0 || abs(table.score[p * columns + j]) > abs(table.score[best * columns + j]) { best = p }
                }
                let layer = header.layers[j / header.neuronsPerLayer], neuron = j % header.neuronsPerLayer
                guard best >= 0 else {
                    return ScoredNeuron(layer: layer, neuron: neuron, position: 0,
                                        score: .nan, pValue: .nan, qValue: .nan)
                }
                let at = best * columns + j
                return ScoredNeuron(layer: layer, neuron: neuron, position: best,
                                    score: table.score[at], pValue: table.p[at], qValue: q[at])
            }
        }

        // Selections, intervals and the figures of each metric.
        let statistic = options.statistic
        var reports: [MetricReport] = []
        var columnCache: [Int: (train: [Double], dev: [Double])] = [:]
        func values(_ n: ScoredNeuron) throws -> (train: [Double], dev: [Double]) {
            let j = header.layers.firstIndex(of: n.layer)! * header.neuronsPerLayer + n.neuron
            let key = n.position * columns + j
            if let cached = columnCache[key] { return cached }
            let t = try reader.block(position: n.position, rows: train, columns: j..<(j + 1)).map(Double.init)
            let d = dev.isEmpty ? [] : try reader.block(position: n.position, rows: dev, columns: j..<(j + 1))
                .map(Double.init)
            columnCache[key] = (t, d)
            return (t, d)
        }
        if statistic == .predictivity, contexts[primaryIndex]?.predictivityY == nil {
            throw CollectError.badPlan(path: experiment.recipeFile,
                                       detail: "predictivity needs a binary (0/1) selection metric and a dev split; " +
                                       "'\(primary)' is not one — choose rank.statistic: pearson, " +
                                       "or a label metric")
        }
        for (m, name) in header.metrics.enumerated() {
            if contexts[m] != nil && scores[m]?[statistic] == nil {
                excluded[name] = "\(statistic.rawValue) needs a binary (0/1) metric"
            }
            guard let context = contexts[m], scores[m]?[statistic] != nil else {
                reports.append(MetricReport(metric: name, excluded: excluded[name], top: [], selection: [],
                                            intervals: [], topPredictivity: nil))
                continue
            }
            let scored = neurons(m, statistic)
            let top = SelectionRule.topK(50).select(scored)
            let selection = options.rule.select(scored)
            var intervals: [(low: Double, high: Double)?] = []
            if options.bootstrap > 0 {
                for (rank, n) in selection.enumerated() {
                    let (x, devX) = try values(n)
                    let threshold = reader.moments[n.position].meanX[header.layers.firstIndex(of: n.layer)! *
                                                                     header.neuronsPerLayer + n.neuron]
                    let draw = seed(.scoreBootstrap, m * 100_000 + rank)
                    intervals.append(Self.bootstrap(statistic, x: x, y: context.train, devX: devX, devY: context.dev,
                                                    threshold: threshold,
                                                    bins: scorer.activationBins, metricBins: context.bins,
                                                    resamples: options.bootstrap, seed: draw))
                }
            }
            var topPredictivity: [Double]?
            if context.binary, let table = scores[m]?[.predictivity] {
                topPredictivity = top.prefix(10).map { n in
                    table.score[n.position * columns +
                                header.layers.firstIndex(of: n.layer)! * header.neuronsPerLayer + n.neuron]
                }
            }
            reports.append(MetricReport(metric: name, excluded: nil, top: Array(top.prefix(50)), selection: selection,
                                        intervals: intervals,
                                        topPredictivity: topPredictivity))
        }
        var overlaps: [(a: String, b: String, jaccard: Double, shared: [NeuronKey])] = []
        let scoredReports = reports.filter { $0.excluded == nil }
        for i in scoredReports.indices { for k in scoredReports.indices where k > i {
            let (jaccard, shared) = selectionOverlap(scoredReports[i].selection, scoredReports[k].selection)
            overlaps.append((scoredReports[i].metric, scoredReports[k].metric, jaccard, shared))
        } }

        var contrast: MetricContrast?
        if let (a, b) = options.contrast {
            for name in [a, b] where !header.metrics.contains(name) {
                throw RecipeErrors(file: experiment.recipeFile, issues: [RecipeIssue(path: "rank.contrast",
                                   line: experiment.recipe.node("rank.contrast")?.mark?.line,
                                   message: "'\(name)' was not collected; " +
                                       "the collected metrics are \(header.metrics.joined(separator: ", "))")])
            }
            let ia = header.metrics.firstIndex(of: a)!, ib = header.metrics.firstIndex(of: b)!
            if let ta = scores[ia]?[statistic], let tb = scores[ib]?[statistic] {
                contrast = MetricContrast.compute(a: a, b: b, scoreA: ta.score, qA: qValues[ia]![statistic]!,
                                              scoreB: tb.score, qB: qValues[ib]![statistic]!,
                                              positions: positions, columns: columns, layers: header.layers,
                                              neuronsPerLayer: header.neuronsPerLayer)
            } else if !quiet {
                // The ranking itself stands; only the comparison is impossible (e.g. a model that never answers right).
                let missing = scores[ia]?[statistic] == nil ? a : b
                ProgressReporter.say("rank: warning: no contrast of \(a) with \(b): " +
                                     "\(missing) has no \(statistic.rawValue) scores " +
                                     "(\(excluded[missing] ?? "not scored"))")
            }
        }
        let result = Result(statistic: statistic, rule: options.rule, primaryMetric: primary, reports: reports,
                            constantNeurons: constantCounts,
                            overlaps: overlaps, contrast: contrast, permutations: options.permutations,
                            trainRows: train.count, devRows: dev.count,
                            archive: EvidenceArchive.url(folder).path, reused: false)
        var summary: [String: Double] = ["permutations": Double(options.permutations),
                                         "selected": Double(reports[primaryIndex].selection.count)]
        for report in reports where report.excluded == nil {
            summary["top10_mean_abs_\(report.metric)"] = report.top.prefix(10).reduce(0) { $0 + abs($1.score) } /
                Double(max(1, min(10, report.top.count)))
        }
        return StageOutcome(result: result, summary: summary) { group in
            try Self.write(result, scores: scores, qValues: qValues, header: header, excluded: excluded,
                           statistics: options.statistics, into: group)
        }
    }

    /// A percentile interval of one neuron's statistic over resampled examples (dev examples for predictivity).
    static func bootstrap(_ statistic: NeuronStatistic, x: [Double], y: [Double], devX: [Double], devY: [Double],
                          threshold: Double,
                          bins: Int, metricBins: (bins: [Int], count: Int),
                          resamples: Int, seed: UInt64) -> (low: Double, high: Double)? {
        switch statistic {
        case .pearson:
            return bootstrapInterval(examples: x.count, resamples: resamples, seed: seed) { s in
                pearsonTwoPass(s.map { x[$0] }, s.map { y[$0] })
            }
        case .spearman:
            return bootstrapInterval(examples: x.count, resamples: resamples, seed: seed) { s in
                spearman(s.map { x[$0] }, s.map { y[$0] })
            }
        case .mutualInformation:
            return bootstrapInterval(examples: x.count, resamples: resamples, seed: seed) { s in
                let (a, ac) = MutualInformation.equalFrequencyBins(s.map { x[$0] }, bins: bins)
                return MutualInformation.estimate(a, ac, s.map { metricBins.bins[$0] }, metricBins.count)
            }
        case .predictivity:
            guard !devX.isEmpty else { return nil }
            return bootstrapInterval(examples: devX.count, resamples: resamples, seed: seed) { s in
                Predictivity.score(activations: s.map { devX[$0] }, labels: s.map { devY[$0] }, threshold: threshold)
            }
        }
    }
}
