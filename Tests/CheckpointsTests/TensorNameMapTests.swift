import Testing
import Checkpoints
import TestSupport

@Suite struct TensorNameMapTests {
    @Test func namesRoundTripThroughRoles() {
        for family in ModelFamily.allCases {
            for role in TensorRole.allCases {
                let layer = role.isPerLayer ? 7 : nil
                for name in [TensorNameMap.ggufName(role, family: family, layer: layer), TensorNameMap.huggingFaceName(role, family: family, layer: layer)].compactMap({ $0 }) {
                    let found = TensorNameMap.role(of: name, family: family)
                    #expect(found?.role == role && found?.layer == layer, "\(family) \(name)")
                }
            }
        }
        #expect(TensorNameMap.ggufName(.ffnGate, family: .llama, layer: 3) == "blk.3.ffn_gate.weight")
        #expect(TensorNameMap.huggingFaceName(.ffnNorm, family: .gemma3, layer: 0) == "model.layers.0.pre_feedforward_layernorm.weight")
        #expect(TensorNameMap.role(of: "blk.x.ffn_up.weight", family: .llama) == nil)
        #expect(TensorNameMap.role(of: "blk.01.ffn_up.weight", family: .llama) == nil)
    }

    /// Every tensor of the real files has a role: nothing in them is unknown to the map.
    @Test(.enabled(if: Fixtures.has("smollm2"), Fixtures.missingReason("smollm2")))
    func everySmolLM2TensorIsMapped() throws { try expectAllMapped("smollm2", .llama) }

    @Test(.enabled(if: Fixtures.has("gemma3"), Fixtures.missingReason("gemma3")))
    func everyGemmaTensorIsMapped() throws { try expectAllMapped("gemma3", .gemma3) }

    private func expectAllMapped(_ alias: String, _ family: ModelFamily) throws {
        let file = try GGUFFile(path: Fixtures.checkpoint(alias))
        for info in file.tensors { #expect(TensorNameMap.role(of: info.name, family: family) != nil, "\(info.name)") }
    }

    @Test(.enabled(if: Fixtures.has("minilm"), Fixtures.missingReason("minilm")))
    func everyMiniLMTensorIsMapped() throws {
        let file = try SafetensorsFile(path: Fixtures.checkpoint("minilm"))
        let unmapped = file.tensors.map(\.name).filter { TensorNameMap.role(of: $0, family: .bert) == nil }
        // The pooler and the position_ids buffer are not part of the encoder Scalpel runs.
        #expect(Set(unmapped) == ["embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias"])
    }
}
