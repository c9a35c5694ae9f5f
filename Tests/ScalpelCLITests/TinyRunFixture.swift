import Foundation
import TestSupport

/// A scratch folder with a tiny random Llama (`tiny.gguf`) and 60 labelled rows (`data.csv`) for
/// end-to-end runs of the CLI. The caller deletes the folder.
func tinyRunFolder() throws -> (directory: URL, model: URL, data: URL) {
    let directory = try Fixtures.scratchDirectory()
    let config = TinyModels.llamaConfig(vocabulary: 260)
    let model = directory.appendingPathComponent("tiny.gguf")
    try TinyModels.writeLlamaGGUF(model, tensors: TinyModels.llamaTensors(config), config: config)
    var rows = "text,label\n"
    for i in 0..<60 { rows += (i % 2 == 0 ? "good film \(i)" : "bad film \(i)") + ",\(i % 2 == 0 ? "pos" : "neg")\n" }
    let data = directory.appendingPathComponent("data.csv")
    try rows.write(to: data, atomically: true, encoding: .utf8)
    return (directory, model, data)
}
