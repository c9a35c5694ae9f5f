import Datasets
import Foundation

/// One auxiliary metric: a named number per example (or per token, for `logprob`).
public enum Metric: Equatable, Sendable {
    /// The class label: 0/1 for two classes; for more, one one-vs-rest column per class.
    case label
    /// The probability of the model's predicted class.
    case confidence
    /// The cross-entropy of the true class.
    case loss
    /// 1 when the prediction is right, else 0.
    case correct
    /// Per token: the log-probability of the next token (every-token collection only).
    case logprob
    /// For pair datasets: log p(text) − log p(pair) under the model, in nats (positive: the first, more
    /// stereotypical sentence is the likelier). Each sentence is scored by the sum of its tokens' log-probabilities.
    case pairPreference
    /// A numeric column of the dataset.
    case column(String)
    /// A formula over the example, declared as `name = expression`.
    case expression(name: String, MetricExpression)

    /// Reads one entry of `collect.metrics`.
    public static func parse(_ text: String) throws -> Metric {
        switch text {
        case "label": return .label
        case "confidence": return .confidence
        case "loss": return .loss
        case "correct": return .correct
        case "logprob": return .logprob
        case "pair_preference": return .pairPreference
        default: break
        }
        if text.hasPrefix("column:") {
            let name = String(text.dropFirst("column:".count)).trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty else {
                throw MetricExpressionError(text: text, offset: 7, message: "name the column after 'column:'")
            }
            return .column(name)
        }
        if let equals = assignment(text) {
            let name = String(text[..<equals]).trimmingCharacters(in: .whitespaces)
            guard let first = name.first, first.isLetter || first == "_",
                  name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw MetricExpressionError(text: text, offset: 0,
                                            message: "'\(name)' is not a metric name (letters, digits and _)")
            }
            return .expression(name: name, try MetricExpression.parse(String(text[text.index(after: equals)...])))
        }
        throw MetricExpressionError(text: text, offset: 0,
                                    message: "not a metric; use label, confidence, loss, correct, logprob, " +
                                        "pair_preference, column:NAME, or NAME = EXPRESSION")
    }

    /// The `=` of `name = expression` (not part of ==, !=, <=, >=).
    private static func assignment(_ text: String) -> String.Index? {
        var i = text.startIndex
        while i < text.endIndex {
            if text[i] == "=" {
                let next = text.index(after: i)
                let previous = i > text.startIndex ? text[text.index(before: i)] : " "
                if (next == text.endIndex || text[next] != "=") && !"=!<>".contains(previous) { return i }
            }
            i = text.index(after: i)
        }
        return nil
    }

    /// The metric's column names, given the dataset's classes.
    public func columnNames(classes: [String]) -> [String] {
        switch self {
        case .label: return classes.count <= 2 ? ["label"] : classes.map { "label=\($0)" }
        case .confidence: return ["confidence"]
        case .loss: return ["loss"]
        case .correct: return ["correct"]
        case .logprob: return ["logprob"]
        case .pairPreference: return ["pair_preference"]
        case .column(let name): return ["column:\(name)"]
        case .expression(let name, _): return [name]
        }
    }
}

/// What the model said about one example, for the metrics that need it.
public struct ModelOutcome: Sendable {
    public var prediction: Int
    public var confidence: Double
    public var loss: Double
    /// log p(text) − log p(pair), when the pair metric is collected.
    public var pairPreference: Double? = nil
    /// Answer tasks: the first number in the model's answer (NaN if it gave none), and whether the answer
    /// is the expected one (`AnswerMatch.isCorrect`).
    public var answer: Double? = nil
    public var answerCorrect: Bool? = nil

    public init(prediction: Int, confidence: Double, loss: Double, pairPreference: Double? = nil,
                answer: Double? = nil, answerCorrect: Bool? = nil) {
        self.prediction = prediction
        self.confidence = confidence
        self.loss = loss
        self.pairPreference = pairPreference
        self.answer = answer
        self.answerCorrect = answerCorrect
    }

    /// Whether the model got the example right: the answer's exact match, or the predicted class.
    func isCorrect(_ example: Example) -> Double? {
        if let answerCorrect { return answerCorrect ? 1 : 0 }
        return example.label.map { $0 == prediction ? 1 : 0 }
    }
}

extension Metric {
    /// This metric's values (one per column) for one example; nil entries are missing values.
    public func values(for example: Example, classes: Int, outcome: ModelOutcome) -> [Double?] {
        switch self {
        case .label:
            guard let label = example.label else {
                return classes <= 2 ? [nil] : [Double?](repeating: nil, count: classes)
            }
            return classes <= 2 ? [Double(label)] : (0..<classes).map { $0 == label ? 1 : 0 }
        case .confidence: return [outcome.confidence]
        case .loss: return [outcome.loss]
        case .correct: return [outcome.isCorrect(example)]
        case .logprob: return [nil]
        case .pairPreference: return [example.pair == nil ? nil : outcome.pairPreference]
        case .column(let name):
            return [example.fields[name].flatMap { Double($0.trimmingCharacters(in: .whitespaces)) }]
        case .expression(_, let formula):
            let numbers = numbersInText(example.text)
            return [formula.evaluate { name in
                switch name {
                case "label": return example.label.map(Double.init)
                case "prediction": return outcome.answer ?? Double(outcome.prediction)
                case "confidence": return outcome.confidence
                case "loss": return outcome.loss
                case "correct": return outcome.isCorrect(example)
                case "numbers": return Double(numbers.count)
                default:
                    if name.hasPrefix("n"), let i = Int(name.dropFirst()) {
                        return i < numbers.count ? numbers[i] : nil
                    }
                    return example.fields[name].flatMap { Double($0.trimmingCharacters(in: .whitespaces)) }
                }
            }]
        }
    }
}
