import Autodiff
import Datasets
import Models
import TensorCore
import Tokenizers

/// A classification task framed for a model with a soft prompt: the verbalizer logits at the last position
/// of a decoder, or a linear head over an encoder's pooled output.
///
/// The soft prompt's P virtual tokens sit before the text, after BOS (decoders whose tokenizer adds one)
/// or after [CLS] (encoders): that token becomes the first row of the prefix.
public final class PromptTask: @unchecked Sendable {
    public enum Framing {
        /// Decoder: the text inside `template`, classified by the logits of `verbalizers` at the last token.
        case verbalizers(template: String, ids: [Int32])
        /// Encoder: a [K, C] head (and bias) over the mean-pooled last hidden state.
        case head(weight: Variable, bias: Variable)
    }

    public let model: LanguageModel
    public let tokenizer: any Tokenizer
    public let framing: Framing
    public let classes: Int
    /// The first prefix row that is not trained (BOS or [CLS]), if the model needs one.
    let fixedFirstRow: Tensor?

    public init(model: LanguageModel, tokenizer: any Tokenizer, framing: Framing, classes: Int) {
        self.model = model
        self.tokenizer = tokenizer
        self.framing = framing
        self.classes = classes
        switch model {
        case .decoder(let m):
            fixedFirstRow = tokenizer.leadingBOS.map { m.embeddingRow($0) }
        case .bert(let m):
            fixedFirstRow = (tokenizer as? WordPieceTokenizer).map { m.wordEmbeddingRow($0.clsID) }
        }
    }

    /// Token ids of one example's text, without the leading special token the prefix provides.
    public func ids(_ text: String) -> [Int32] {
        switch (model, framing) {
        case (_, .verbalizers(let template, _)):
            return tokenizer.encode(TextPart.filling(template, with: text), addSpecialTokens: false)
        case (.bert, _):
            // [CLS] comes from the prefix
            return Array(tokenizer.encodeData(text, addSpecialTokens: true).dropFirst())
        default:
            return tokenizer.encodeData(text, addSpecialTokens: false)
        }
    }

    /// The batch layout and the input embeddings [B·T, C] (prefix rows included) that `logits` runs.
    public func inputs(_ sequences: [[Int32]], prompt: Variable?) throws -> (batch: TokenBatch, embeddings: Variable) {
        var prefix = prompt
        if let fixedFirstRow {
            prefix = prompt.map { concatRows([Variable(fixedFirstRow), $0]) } ?? Variable(fixedFirstRow)
        }
        let batch = TokenBatch(sequences, prefix: prefix?.shape[0] ?? 0)
        switch model {
        case .decoder(let m): return (batch, try m.embed(batch, prefix: prefix))
        case .bert(let m): return (batch, try m.embed(batch, prefix: prefix))
        }
    }

    /// The batch layout `logits` uses for these sequences under a prompt of `promptLength` rows (0 for none):
    /// the fixed first row (BOS or [CLS]), if any, then the prompt, then the text.
    public func batch(_ sequences: [[Int32]], promptLength: Int) -> TokenBatch {
        TokenBatch(sequences, prefix: promptLength + (fixedFirstRow == nil ? 0 : 1))
    }

    /// Row of prompt position j within a sequence (after the fixed first row, if any).
    public func promptOffset(_ j: Int) -> Int { j + (fixedFirstRow == nil ? 0 : 1) }

    /// Class logits [B, K] of a batch of texts under `prompt` ([P, C], or nil for no soft prompt), with
    /// `hooks` attached to the model's forward pass.
    public func logits(_ sequences: [[Int32]], prompt: Variable?, hooks: HookSet = HookSet()) throws -> Variable {
        let (batch, embeddings) = try inputs(sequences, prompt: prompt)
        switch (model, framing) {
        case (.decoder(let m), .verbalizers(_, let verbalizerIDs)):
            let out = m.forward(embeddings: embeddings, batch: batch, hooks: hooks, logitRows: batch.lastRows)
            // [B, V] → the K verbalizer columns, so that the loss and the prediction see the same logits.
            return selectColumns(out.logits!, verbalizerIDs.map(Int.init))
        case (.bert(let m), .head(let weight, let bias)):
            let hidden = m.forward(embeddings: embeddings, batch: batch, hooks: hooks)
            let pooled = groupMeanRows(hidden,
                                       groups: (0..<batch.batch).map { batch.tokenRows($0, includePrefix: true) })
            return linear(pooled, weight: weight, bias: bias)
        default:
            preconditionFailure("PromptTask: verbalizers need a decoder and a head needs an encoder")
        }
    }
}

/// Chosen columns of a matrix. - x: [N, V] → [N, K]
public func selectColumns(_ x: Variable, _ columns: [Int]) -> Variable {
    let v = x.shape.last!, n = x.value.count / v, k = columns.count
    var out = Tensor(shape: [n, k])
    for r in 0..<n { for (j, c) in columns.enumerated() { out.scalars[r * k + j] = x.value.scalars[r * v + c] } }
    return Variable(result: out, parents: [x]) { dy in
        x.accumulateGradient("selectColumns") { dx in
            for r in 0..<n { for (j, c) in columns.enumerated() { dx[r * v + c] += dy.scalars[r * k + j] } }
        }
    }
}
