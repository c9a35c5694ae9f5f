import Testing
import Foundation
import AtomicFiles
import Checkpoints
import Models
import TensorCore
import TestSupport
import Tokenizers

/// `scalpel synth`'s files load like real ones, with the layout llama.cpp's quantizer gives and a real
/// tokenizer; a model too large for the machine is refused before anything is read.
@Suite struct SyntheticModelTests {
    static let vocabularies = Fixtures.root.appendingPathComponent("checkpoints/vocab")
    static var hasVocabularies: Bool {
        FileManager.default.fileExists(atPath: vocabularies.appendingPathComponent("ggml-vocab-llama-spm.gguf").path)
    }

    @Test(.enabled(if: hasVocabularies, "llama.cpp's vocabularies are not fetched: run Scripts/fetch tokenizers"),
          arguments: SyntheticModel.FileType.allCases)
    func tinyLlamaLoadsRunsAndTokenizes(type: SyntheticModel.FileType) throws {
        let url = try Fixtures.scratchDirectory().appendingPathComponent("tiny-\(type.rawValue).gguf")
        let shape = try SyntheticModel.shape("tiny-llama")
        try SyntheticModel.write(shape, type: type, to: url, vocabularies: Self.vocabularies, seed: 3)
        let file = try GGUFFile(path: url.path)
        func typeOf(_ name: String) -> GGMLType? { file.tensor(named: name)?.type }
        switch type {
        case .q4_k_m:
            // Two layers: the last eighth is layer 1, whose attn_v and ffn_down take Q6_K, as does the output.
            #expect(typeOf("output.weight") == .q6_K && typeOf("blk.1.ffn_down.weight") == .q6_K && typeOf("blk.1.attn_v.weight") == .q6_K)
            #expect(typeOf("blk.0.ffn_down.weight") == .q4_K && typeOf("blk.0.ffn_gate.weight") == .q4_K && typeOf("token_embd.weight") == .q4_K)
        case .q8_0: #expect(typeOf("blk.0.ffn_up.weight") == .q8_0)
        case .f16: #expect(typeOf("blk.0.ffn_up.weight") == .f16)
        }
        #expect(typeOf("blk.0.attn_norm.weight") == .f32)
        #expect(file.parameterCount == shape.parameterCount)

        let loaded = try ModelLoader.load(url.path)
        guard case .decoder(let model) = loaded.model else { Issue.record("not a decoder"); return }
        #expect(model.config.layers == 2 && model.config.hiddenSize == 256 && model.config.vocabularySize == 32_000)
        // The tokenizer is Llama 2's: the same ids as the vocabulary file's own.
        let reference = try TokenizerLoader.load(gguf: GGUFFile(path: Self.vocabularies.appendingPathComponent("ggml-vocab-llama-spm.gguf").path).metadata)
        let text = "Hello world, this is Scalpel."
        #expect(loaded.tokenizer.encode(text) == reference.encode(text) && loaded.tokenizer.encode(text).count > 3)
        // Random weights of about 0.02: finite logits of a sensible spread, not a blow-up.
        let batch = TokenBatch([loaded.tokenizer.encode(text)])
        let logits = model.forward(embeddings: try model.embed(batch), batch: batch).logits!.value.scalars
        let mean = logits.reduce(0, +) / Float(logits.count)
        let spread = (logits.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(logits.count)).squareRoot()
        #expect(logits.allSatisfy(\.isFinite) && spread > 1e-3 && spread < 100, "logit spread \(spread)")
    }

    @Test func refusesWhatItCannotWrite() throws {
        #expect(throws: SyntheticModel.SynthError.self) { try SyntheticModel.fileType("iq4_xs") }
        #expect(throws: SyntheticModel.SynthError.self) { try SyntheticModel.shape("llama-5-900b") }
        let error = try #require(throws: SyntheticModel.SynthError.self) {
            try SyntheticModel.write(SyntheticModel.shape("tiny-llama"), type: .q8_0,
                                     to: URL(fileURLWithPath: "/tmp/never.gguf"), vocabularies: URL(fileURLWithPath: "/nonexistent"))
        }
        #expect("\(error)".contains("Scripts/fetch tokenizers"))
        #expect("\(SyntheticModel.SynthError.unknownType("iq4_xs"))".contains("q4_k_m"))
    }

    /// The real 7B and 13B shapes count what their model cards say (6.74 B and 13.0 B).
    @Test func shapesCountTheirParameters() throws {
        #expect(abs(Double(try SyntheticModel.shape("llama-2-7b").parameterCount) / 1e9 - 6.74) < 0.01)
        #expect(abs(Double(try SyntheticModel.shape("llama-2-13b").parameterCount) / 1e9 - 13.02) < 0.01)
        #expect(abs(Double(try SyntheticModel.shape("qwen2.5-7b").parameterCount) / 1e9 - 7.62) < 0.01)
    }

    /// A model that will not fit is refused before loading, with the estimate and the machine's memory.
    @Test func aModelThatWillNotFitIsRefused() throws {
        let url = try Fixtures.scratchDirectory().appendingPathComponent("estimate.gguf")
        let config = TinyModels.llamaConfig(hidden: 32, ffn: 64)
        try TinyModels.writeLlamaGGUF(url, tensors: TinyModels.llamaTensors(config), config: config) { name, tensor in
            tensor.rank == 2 ? (.q8_0, try quantize(tensor.scalars, to: .q8_0)) : nil
        }
        let file = try GGUFFile(path: url.path)
        let stored = MemoryEstimate(gguf: file, storage: .asStored), float32 = MemoryEstimate(gguf: file, storage: .float32)
        #expect(stored.mappedBytes > 0 && float32.mappedBytes == 0 && float32.copiedBytes > stored.copiedBytes)
        let error = try #require(throws: UserFileError.self) { try float32.check(path: url.path, storage: .float32, available: 1 << 20) }
        #expect(error.reason.contains("this machine has 0.0 GB") && error.reason.contains("as stored"), "\(error)")
        try stored.check(path: url.path, storage: .asStored, available: 1 << 40)
    }

    /// The peak resident memory every stage reports is this program's own: it grows with pages the
    /// program touches, and stays below the machine's memory.
    @Test func peakResidentMemoryIsThisProgramsOwn() {
        let before = MachineMemory.peakResidentBytes
        #expect(before > 0 && before < MachineMemory.availableBytes)
        let size = 256 << 20
        let touched = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        defer { touched.deallocate() }
        for page in stride(from: 0, to: size, by: 4096) { touched.storeBytes(of: 1, toByteOffset: page, as: UInt8.self) }
        let after = MachineMemory.peakResidentBytes
        #expect(after >= before && after >= size, "\(before) then \(after) bytes")
    }
}
