import AtomicFiles
import Checkpoints
import Foundation

/// A Llama model's weights in Hugging Face's layout: `model.safetensors` with HF tensor names and
/// `config.json`, so that `LlamaForCausalLM.from_pretrained(folder)` loads an edit.
///
/// llama.cpp stores the Q and K projections with each head's rows permuted for its interleaved RoPE
/// (gguf-py's `permute`: HF row j·D/2 + i of a head becomes row 2i + j). HF's model uses rotate-half
/// RoPE on the unpermuted rows, so the export undoes the permutation. A tied LM head is not written
/// (`tie_word_embeddings: true`).
extension LlamaModel {
    public func exportHuggingFace(to folder: URL, metadata: [String: String] = [:]) throws {
        guard config.gemma == nil else {
            throw ModelError.badMetadata(key: "general.architecture", detail: "gemma3 has no Hugging Face export yet; use the edited GGUF")
        }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var entries: [SafetensorsEntry] = []
        for name in parameters.keys.sorted() {
            let tensor = parameters[name]!.value
            guard let (role, layer) = TensorNameMap.role(of: name, family: .llama),
                  let hfName = TensorNameMap.huggingFaceName(role, family: .llama, layer: layer) else {
                throw ModelError.badMetadata(key: name, detail: "has no Hugging Face name")
            }
            var values = tensor.scalars
            switch role {
            case .attentionQuery: values = Self.unpermuteRoPERows(values, heads: config.heads, headDim: config.headDim, width: config.hiddenSize)
            case .attentionKey: values = Self.unpermuteRoPERows(values, heads: config.kvHeads, headDim: config.headDim, width: config.hiddenSize)
            default: break
            }
            entries.append(SafetensorsEntry(name: hfName, floats: values, shape: tensor.shape))
        }
        try writeSafetensors(entries, metadata: metadata.merging(["format": "pt"]) { a, _ in a }, to: folder.appendingPathComponent("model.safetensors"))
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(config)) as! [String: Any]
        json["architectures"] = ["LlamaForCausalLM"]
        json["model_type"] = "llama"
        json["hidden_act"] = "silu"
        json["head_dim"] = config.headDim
        json["torch_dtype"] = "float32"
        let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(data, to: folder.appendingPathComponent("config.json"))
    }

    /// GGUF (interleaved) → HF (rotate-half) row order within each head: HF row j·D/2 + i = GGUF row 2i + j.
    /// - values: [heads · D, width] row-major.
    public static func unpermuteRoPERows(_ values: [Float], heads: Int, headDim d: Int, width: Int) -> [Float] {
        var out = values
        for h in 0..<heads { for i in 0..<(d / 2) { for j in 0..<2 {
            let from = (h * d + 2 * i + j) * width, to = (h * d + j * (d / 2) + i) * width
            for c in 0..<width { out[to + c] = values[from + c] }
        } } }
        return out
    }

    /// HF → GGUF, gguf-py's `permute`: the inverse of `unpermuteRoPERows`.
    public static func permuteRoPERows(_ values: [Float], heads: Int, headDim d: Int, width: Int) -> [Float] {
        var out = values
        for h in 0..<heads { for i in 0..<(d / 2) { for j in 0..<2 {
            let to = (h * d + 2 * i + j) * width, from = (h * d + j * (d / 2) + i) * width
            for c in 0..<width { out[to + c] = values[from + c] }
        } } }
        return out
    }
}
