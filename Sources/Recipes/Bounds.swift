/// The allowed range of a numeric option, declared once and checked everywhere it is read: by
/// `recipe check`, by the stages, and by the commands' flags.
///
/// Some ranges depend on the model (k at most its neurons, a layer below its layer count); they name a
/// `ModelLimits` member and are checked once the model's configuration is known.
public struct Bounds: Sendable, Equatable {
    public enum Limit: Sendable, Equatable {
        case value(Double)
        /// The model's layer count minus one: the last layer index.
        case lastLayer
        /// Neurons in one layer's FFN.
        case ffnWidth
        /// Neurons in all layers together.
        case neurons
    }

    public var lower: Double?
    public var lowerExclusive = false
    public var upper: Limit?

    public init(lower: Double? = nil, lowerExclusive: Bool = false, upper: Limit? = nil) {
        self.lower = lower
        self.lowerExclusive = lowerExclusive
        self.upper = upper
    }

    public static func atLeast(_ lower: Double, atMost upper: Limit? = nil) -> Bounds {
        Bounds(lower: lower, upper: upper)
    }
    /// Greater than zero.
    public static let positive = Bounds(lower: 0, lowerExclusive: true)
    /// A share in (0, 1].
    public static let share = Bounds(lower: 0, lowerExclusive: true, upper: .value(1))
    /// A fraction in [0, 1].
    public static let fraction = Bounds(lower: 0, upper: .value(1))
    /// Finite, of any sign.
    public static let finite = Bounds()
    /// Examples in one forward pass or step.
    public static let batch = Bounds.atLeast(1, atMost: .value(1024))
    /// Tokens in one sequence.
    public static let tokens = Bounds.atLeast(1, atMost: .value(8192))
    /// Repetitions, resamples and permutations: enough for any statistic, few enough to finish.
    public static let repeats = Bounds.atLeast(1, atMost: .value(1_000_000))

    /// No number Scalpel reads is larger: every one becomes a Float somewhere.
    static let largest = Double(Float.greatestFiniteMagnitude)

    /// Whether the range needs the model's configuration to be checked in full.
    public var dependsOnModel: Bool {
        if case .value? = upper { return false }
        return upper != nil
    }

    /// The upper limit as a number, when it is fixed or `limits` are known.
    func upperValue(_ limits: ModelLimits?) -> Double? {
        switch upper {
        case .value(let v)?: return v
        case .lastLayer?: return limits.map { Double($0.layers - 1) }
        case .ffnWidth?: return limits.map { Double($0.ffnWidth) }
        case .neurons?: return limits.map { Double($0.neurons) }
        case nil: return nil
        }
    }

    /// The range in words, with the model's figures where they are known: "at least 1 and at most 1,536
    /// (the model's neurons per layer)".
    public func describe(_ limits: ModelLimits? = nil) -> String {
        var parts: [String] = []
        if let lower {
            parts.append(lowerExclusive ? "greater than \(Self.format(lower))" : "at least \(Self.format(lower))")
        }
        if let upper {
            let value = upperValue(limits).map(Self.format)
            switch upper {
            case .value: parts.append("at most \(value!)")
            case .lastLayer: parts.append("at most \(value ?? "the model's last layer") (the last layer index)")
            case .ffnWidth: parts.append("at most \(value ?? "the model's FFN width") (the model's neurons per layer)")
            case .neurons:
                parts.append("at most \(value ?? "the model's neuron count") (the model's neurons in all layers)")
            }
        }
        return parts.isEmpty ? "a finite number" : parts.joined(separator: " and ")
    }

    /// Why `value` is out of range, or nil when it is within it. Model-dependent limits are skipped when
    /// `limits` is nil.
    public func problem(_ value: Double, limits: ModelLimits? = nil) -> String? {
        let wrong: Bool
        if !value.isFinite || abs(value) > Self.largest { wrong = true }
        else if let lower, lowerExclusive ? value <= lower : value < lower { wrong = true }
        else if let upper = upperValue(limits), value > upper { wrong = true }
        else { wrong = false }
        let range = value.isFinite && abs(value) <= Self.largest
            ? describe(limits) : "a finite number " + describe(limits)
        return wrong ? "is \(Self.format(value)); it must be \(range)" : nil
    }

    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "infinity" : "-infinity" }
        if value == value.rounded(), abs(value) < 9e18 { return String(Int64(value)) }
        return "\(value)"
    }
}

/// What a model's configuration says about the ranges of options that refer to its parts.
public struct ModelLimits: Sendable, Equatable {
    public var layers: Int
    public var ffnWidth: Int
    public var neurons: Int { layers * ffnWidth }

    public init(layers: Int, ffnWidth: Int) {
        self.layers = layers
        self.ffnWidth = ffnWidth
    }
}
