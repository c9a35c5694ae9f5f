/// BERT hyperparameters, decoded from a Hugging Face config.json (snake_case keys).
public struct BertConfig: Codable, Sendable, Equatable {
    public var hiddenSize: Int              // C
    public var intermediateSize: Int        // F
    public var layers: Int                  // L
    public var heads: Int                   // H
    public var vocabularySize: Int          // V
    public var maxPositions: Int
    public var typeVocabularySize: Int
    public var layerNormEps: Float
    public var hiddenAct: String

    public var headDim: Int { hiddenSize / heads }

    /// Decodes, then refuses sizes no model can have: non-positive ones, heads that do not divide the
    /// width (the first forward pass would trap), and sizes whose products overflow.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func size(_ key: CodingKeys) throws -> Int {
            let value = try c.decode(Int.self, forKey: key)
            guard (1...(1 << 24)).contains(value) else {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: c, debugDescription: "\(value) is not a size from 1 to \(1 << 24)")
            }
            return value
        }
        hiddenSize = try size(.hiddenSize)
        intermediateSize = try size(.intermediateSize)
        layers = try size(.layers)
        heads = try size(.heads)
        vocabularySize = try size(.vocabularySize)
        maxPositions = try size(.maxPositions)
        typeVocabularySize = try size(.typeVocabularySize)
        layerNormEps = try c.decode(Float.self, forKey: .layerNormEps)
        hiddenAct = try c.decode(String.self, forKey: .hiddenAct)
        guard hiddenSize % heads == 0 else {
            throw DecodingError.dataCorruptedError(
                forKey: .heads, in: c, debugDescription: "\(heads) heads do not divide hidden_size \(hiddenSize)")
        }
        guard layerNormEps.isFinite && layerNormEps > 0 else {
            throw DecodingError.dataCorruptedError(
                forKey: .layerNormEps, in: c, debugDescription: "\(layerNormEps) is not a positive number")
        }
    }

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", intermediateSize = "intermediate_size", layers = "num_hidden_layers"
        case heads = "num_attention_heads", vocabularySize = "vocab_size", maxPositions = "max_position_embeddings"
        case typeVocabularySize = "type_vocab_size", layerNormEps = "layer_norm_eps", hiddenAct = "hidden_act"
    }

    public init(hiddenSize: Int, intermediateSize: Int, layers: Int, heads: Int, vocabularySize: Int,
                maxPositions: Int = 512, typeVocabularySize: Int = 2, layerNormEps: Float = 1e-12,
                hiddenAct: String = "gelu") {
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layers = layers
        self.heads = heads
        self.vocabularySize = vocabularySize
        self.maxPositions = maxPositions
        self.typeVocabularySize = typeVocabularySize
        self.layerNormEps = layerNormEps
        self.hiddenAct = hiddenAct
    }
}
