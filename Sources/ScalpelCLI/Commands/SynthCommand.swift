import ArgumentParser
import Foundation
import Scalpel

/// `scalpel synth`: a GGUF of random weights in a real model's shape, with that model's real tokenizer.
struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Write a GGUF of random weights in the shape of a real model, for scale tests and benchmarks.",
        discussion: """
        Shapes: \(SyntheticModel.shapes.map(\.name).joined(separator: ", ")). \
        Types: \(SyntheticModel.FileType.allCases.map(\.rawValue).joined(separator: ", ")) \
        (q4_k_m as llama.cpp lays it out: Q4_K, with Q6_K for the output and for some layers' attn_v and ffn_down). \
        The tokenizer comes from llama.cpp's vocabulary GGUFs in checkpoints/vocab (Scripts/fetch tokenizers). \
        Random weights carry no skill: use these files for memory and speed, and real models for the science.
        """)

    @Option(help: "The model shape.") var shape: String
    @Option(help: "The file type.") var type = "q4_k_m"
    @Option(help: "The GGUF to write (atomically).") var out: String
    @Option(parsing: .unconditional, help: "Seed of the random weights.") var seed: UInt64 = 0
    @Option(help: "Folder of llama.cpp's vocabulary GGUFs.") var vocabularies = "checkpoints/vocab"
    @Flag(help: "Print a JSON summary.") var json = false

    func run() throws {
        let shape = try SyntheticModel.shape(shape), fileType = try SyntheticModel.fileType(type)
        let started = Date()
        let progress = ProgressReporter("synth \(shape.name) \(fileType.rawValue)", total: 100, unit: "%")
        let folder = Experiment.resolve(vocabularies, root: ModelAliases.root())
        try SyntheticModel.write(shape, type: fileType, to: URL(fileURLWithPath: out),
                                 vocabularies: URL(fileURLWithPath: folder), seed: seed) { done, total in
            progress.update(Int(100 * Double(done) / Double(max(total, 1))),
                            String(format: "%.2f GB", Double(done) / 1e9))
        }
        let bytes = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
        let summary: [String: Any] = ["shape": shape.name, "type": fileType.rawValue, "out": out,
                                      "parameters": shape.parameterCount, "file_mb": Double(bytes) / 1_048_576,
                                      "seconds": Date().timeIntervalSince(started),
                                      "peak_rss_mb": MachineMemory.peakResidentMegabytes]
        if json { Output.printJSON(summary); return }
        print(String(format: "wrote %@: %@ %@, %.2f B parameters, %.0f MB in %.1f s",
                     out, shape.name, fileType.rawValue,
                     Double(shape.parameterCount) / 1e9, Double(bytes) / 1_048_576, summary["seconds"] as! Double))
    }
}
