import AtomicFiles
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
    public func dependencyInputs(_ options: Options) throws -> [String: String] {
        let store = folder.activationStore
        guard FileManager.default.fileExists(atPath: store.path) else {
            throw CollectError.corruptStore(path: store.path,
                                            detail: "there is no activation store; " +
                                            "run `scalpel collect \(experiment.recipeFile)` first " +
                                            "(or `scalpel merge` after sharded collection)")
        }
        return ["store": try SHA256.file(store.path)]
    }

    public func read(_ record: RunFolder.StageRecord, reused: Bool) throws -> Result {
        try Self.load(EvidenceArchive.url(folder), reused: reused)
    }

    /// The record's figures: the permutations, the primary metric's selection, and each scored metric's
    /// top-10 mean |score|.
    public func headline(_ result: Result) -> [String: Figure] {
        let primary = result.reports.first { $0.metric == result.primaryMetric }
        var figures: [String: Figure] = ["permutations": .number(Double(result.permutations)),
                                         "selected": .number(Double(primary?.selection.count ?? 0))]
        for report in result.reports where report.excluded == nil {
            let top = report.top.prefix(10)
            figures["top10_mean_abs_\(report.metric)"] =
                .number(top.reduce(0) { $0 + abs($1.score) } / Double(max(1, top.count)))
        }
        return figures
    }

    /// The story of a ranking: score every neuron against every metric, correct for the many tests, select
    /// and bound the selection of each metric, then compare the metrics' selections.
    public func compute(_ run: StageRun<Options>) throws -> StageOutcome {
        let options = run.options, quiet = run.quiet
        var work = try RankWork(stage: self, options: options, quiet: quiet)
        try work.scoreEveryNeuron()
        work.correctForMultipleTests()
        let reports = try work.metricReports()
        let overlaps = Self.overlaps(reports)
        let contrast = try work.contrast()
        let result = Result(statistic: options.statistic, rule: options.rule, primaryMetric: work.primary,
                            reports: reports, constantNeurons: work.constantCounts, overlaps: overlaps,
                            contrast: contrast, permutations: options.permutations,
                            trainRows: work.train.count, devRows: work.dev.count,
                            archive: EvidenceArchive.url(folder).path, reused: false)
        return StageOutcome { [work] group in
            try Self.write(result, scores: work.scores, qValues: work.qValues, header: work.header,
                           excluded: work.excluded, statistics: options.statistics, into: group)
        }
    }

    /// The Jaccard overlap of every two scored metrics' selections.
    static func overlaps(_ reports: [MetricReport]) -> [(a: String, b: String, jaccard: Double, shared: [NeuronKey])] {
        var overlaps: [(a: String, b: String, jaccard: Double, shared: [NeuronKey])] = []
        let scoredReports = reports.filter { $0.excluded == nil }
        for i in scoredReports.indices { for k in scoredReports.indices where k > i {
            let (jaccard, shared) = selectionOverlap(scoredReports[i].selection, scoredReports[k].selection)
            overlaps.append((scoredReports[i].metric, scoredReports[k].metric, jaccard, shared))
        } }
        return overlaps
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
