import Autodiff
import Models
import Optimizers
import TensorCore

/// Trains a soft prompt (and, for encoders, the classification head) with the model frozen: only the
/// prompt rows and the head get gradients; the model's weights never do.
public final class PromptTrainer: @unchecked Sendable {
    public let task: PromptTask
    /// [P, C], trainable.
    public let prompt: Variable
    public let optimizer: AdamW
    public var trainables: [Variable] {
        var list = [prompt]
        if case .head(let w, let b) = task.framing { list += [w, b] }
        return list
    }

    public init(task: PromptTask, initialPrompt: Tensor, learningRate: Float, weightDecay: Float) {
        self.task = task
        prompt = Variable(initialPrompt, requiresGrad: true, name: "soft_prompt")
        var parameters = [prompt]
        if case .head(let w, let b) = task.framing { parameters += [w, b] }
        optimizer = AdamW(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay)
    }

    /// One AdamW step on a batch; returns the loss before the update.
    @discardableResult
    public func step(_ sequences: [[Int32]], labels: [Int]) throws -> Float {
        optimizer.zeroGradients()
        let loss = crossEntropy(try task.logits(sequences, prompt: prompt), targets: labels.map(Int32.init))
        loss.backward()
        optimizer.step()
        return loss.value.scalars[0]
    }

    /// Predictions, confidences and losses, in batches; `withPrompt: false` is the zero-shot baseline.
    public func evaluate(_ sequences: [[Int32]], labels: [Int], batchSize: Int, withPrompt: Bool = true,
                         progress: ((Int) -> Void)? = nil) throws -> Evaluation {
        var result = Evaluation(predictions: [], labels: labels, confidences: [], losses: [])
        var start = 0
        while start < sequences.count {
            let end = min(sequences.count, start + batchSize)
            let logits = try task.logits(Array(sequences[start..<end]),
                                         prompt: withPrompt ? Variable(prompt.value) : nil).value
            let k = task.classes
            for r in 0..<(end - start) {
                let row = Array(logits.scalars[(r * k)..<((r + 1) * k)])
                let maximum = row.max()!
                let exps = row.map { expf($0 - maximum) }
                let total = exps.reduce(0, +)
                let predicted = row.indices.max { row[$0] < row[$1] }!
                result.predictions.append(predicted)
                result.confidences.append(exps[predicted] / total)
                result.losses.append(-(row[labels[start + r]] - maximum - logf(total)))
            }
            start = end
            progress?(end)
        }
        return result
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
