import Foundation

/// Everything a report shows, read from one evidence archive (`EvidenceReader`). It is plain data, so
/// `scalpel report --json` prints exactly what the HTML page draws. A stage the run has not reached is nil.
/// Values the archive stores as NaN (an excluded neuron, a missing interval) are nil here.
public struct RunEvidence: Codable, Sendable {
    public var archive: String
    public var schema: String
    /// Every `/provenance` attribute but the recipe text, as text, sorted by name.
    public var provenance: [Field]
    public var recipeText: String?
    public var stages: [StageTiming]
    public var prompt: Prompt?
    public var collect: Collect?
    public var rank: Rank?
    public var ablate: Ablate?
    public var edit: Edit?
    public var audit: Audit?
    /// The figures two runs are compared by (`RunComparison`), named as in `scalpel run --json`.
    public var headline: [String: Double]

    public struct Field: Codable, Sendable, Equatable { public var name: String; public var value: String }
    public struct StageTiming: Codable, Sendable {
        public var stage: String; public var started: String?; public var seconds: Double?
    }

    /// `/prompt`: the soft prompt's accuracies and training curves.
    public struct Prompt: Codable, Sendable {
        public var length: Int
        public var epochs: Int
        public var trainExamples: Int?
        public var testExamples: Int?
        public var zeroShotAccuracy: Double?
        public var promptAccuracy: Double
        public var devAccuracy: Double
        public var margin: Double?
        public var marginInterval: [Double]?
        /// Training loss at every step, and dev accuracy after every epoch.
        public var loss: [Double]
        public var devAccuracies: [Double]
    }

    /// `/collect`: what was recorded.
    public struct Collect: Codable, Sendable {
        public var trainRows: Int
        public var devRows: Int
        public var positions: [String]
        public var layers: [Int]
        public var neuronsPerLayer: Int
        public var metrics: [String]
    }

    /// A ranked neuron: `score` is the statistic at its best position; the interval is the bootstrap 95% one.
    public struct Neuron: Codable, Sendable, Equatable {
        public var layer: Int
        public var neuron: Int
        public var position: String
        public var score: Double
        public var pValue: Double
        public var qValue: Double
        public var ciLow: Double?
        public var ciHigh: Double?
    }

    public struct MetricRanking: Codable, Sendable {
        public var metric: String
        public var excluded: String?
        /// The selected neurons, best first, with their intervals.
        public var selection: [Neuron]
        /// Mean |score| of the best 1, 10 and 50 neurons (fewer if fewer were kept).
        public var topMeanAbs: [String: Double]
        public var predictivity: [Double]?
    }

    /// The distribution of |score| over one layer's neurons (each at its best position), for the selecting
    /// metric and statistic. Constant neurons (NaN scores) are not counted.
    public struct LayerScores: Codable, Sendable {
        public var layer: Int
        public var neurons: Int
        public var minimum: Double
        public var lowerQuartile: Double
        public var median: Double
        public var upperQuartile: Double
        public var maximum: Double
        public var selected: Int
    }

    /// A layer × neuron map: the largest |score| in each block of `neuronsPerCell` consecutive neurons.
    public struct ScoreMap: Codable, Sendable {
        public var layers: [Int]
        public var neuronsPerCell: Int
        public var cells: [[Double]]
    }

    public struct Overlap: Codable, Sendable {
        public var a: String
        public var b: String
        public var jaccard: Double
        public var shared: Int
    }

    public struct Rank: Codable, Sendable {
        public var statistic: String
        public var primaryMetric: String
        public var rule: String
        public var permutations: Int
        public var metrics: [MetricRanking]
        public var layerScores: [LayerScores]
        public var map: ScoreMap
        public var overlaps: [Overlap]
        public var constantNeurons: Int
        public var contrast: Contrast?
    }

    /// The neurons that track metric a more than metric b (`rank.contrast`).
    public struct Contrast: Codable, Sendable {
        public struct Neuron: Codable, Sendable {
            public var layer: Int, neuron: Int, position: String
            public var scoreA: Double, scoreB: Double, qA: Double, qB: Double
        }
        public var a: String
        public var b: String
        public var onlyA: Int
        public var onlyB: Int
        public var neurons: [Neuron]
    }

    /// One dose-response curve: the skill set's effect at each point beside its matched random sets.
    public struct Curve: Codable, Sendable {
        public var mode: String
        /// `k` (number of neurons) or `strength`; `fixed` is the other one.
        public var axis: String
        public var fixed: Double
        public var x: [Double]
        public var accuracy: [Double]
        /// Over the R random sets at each point: their mean, lowest and highest accuracy.
        public var randomMean: [Double]
        public var randomLow: [Double]
        public var randomHigh: [Double]
        public var pairedP: [Double]
        public var empiricalP: [Double]
        /// The t test against a normal fit to the random drops (nil in archives from before it).
        public var parametricP: [Double?]
        public var z: [Double?]
        public var klTask: [Double]
        public var klGeneral: [Double?]
        public var ciLow: [Double?]
        public var ciHigh: [Double?]
    }

    public struct Ablate: Codable, Sendable {
        public var baselineAccuracy: Double
        public var baselineMacroF1: Double
        public var testExamples: Int
        public var randomSets: Int
        public var tests: String?
        public var curves: [Curve]
        public var headline: Headline?
        /// What the points' accuracy holds: `accuracy`, or `bleu` (a continuation task's mean BLEU).
        public var score: String?
    }

    /// The point the run's summary quotes (declared in the recipe, or the sweep's largest gap), the p it
    /// quotes and what that p is.
    public struct Headline: Codable, Sendable {
        public var mode: String
        public var x: Double
        public var declared: Bool
        public var p: Double
        public var test: String
        public var significant: Bool
    }

    public struct Edit: Codable, Sendable {
        public var objective: String
        public var selection: String?
        public var writeMode: String
        public var checkpoint: String
        public var neurons: Int
        public var trainableWeights: Int
        public var learningRate: Double
        public var klWeight: Double
        public var loss: [Double]
        public var klPenalty: [Double]
    }

    public struct TensorDelta: Codable, Sendable {
        public var name: String
        public var deltaNorm: Double
        public var changedRows: Int
        public var changedColumns: Int
    }

    public struct Audit: Codable, Sendable {
        public var accuracyBefore: Double?
        public var accuracyAfter: Double?
        public var accuracyIntervalBefore: [Double]?
        public var accuracyIntervalAfter: [Double]?
        public var differenceInterval: [Double]?
        public var perplexityBefore: Double?
        public var perplexityAfter: Double?
        public var klGeneral: Double?
        public var biasBefore: Double?
        public var biasAfter: Double?
        public var biasIntervalBefore: [Double]?
        public var biasIntervalAfter: [Double]?
        public var taskExamples: Int
        public var unchangedTensors: Int
        public var changedOutsideMask: Int
        public var changedTensors: [TensorDelta]
    }

    /// The run's selected neurons for `metric` (the selecting metric by default), as (layer, neuron) pairs.
    public func selected(metric: String? = nil) -> Set<[Int]> {
        guard let rank else { return [] }
        let name = metric ?? rank.primaryMetric
        return Set((rank.metrics.first { $0.metric == name }?.selection ?? []).map { [$0.layer, $0.neuron] })
    }
}
