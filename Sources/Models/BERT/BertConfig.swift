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

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", intermediateSize = "intermediate_size", layers = "num_hidden_layers"
        case heads = "num_attention_heads", vocabularySize = "vocab_size", maxPositions = "max_position_embeddings"
        case typeVocabularySize = "type_vocab_size", layerNormEps = "layer_norm_eps", hiddenAct = "hidden_act"
    }

    public init(hiddenSize: Int, intermediateSize: Int, layers: Int, heads: Int, vocabularySize: Int,
                maxPositions: Int = 512, typeVocabularySize: Int = 2, layerNormEps: Float = 1e-12, hiddenAct: String = "gelu") {
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
