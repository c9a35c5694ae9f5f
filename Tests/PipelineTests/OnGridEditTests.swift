import Testing
import Foundation
import Checkpoints
import Pipeline
import TensorCore
import TestSupport

/// `edit.write: on-grid`: the edited file keeps the base's types, and only the edited neurons' bytes
/// change: their own rows requantized whole (scales included), single codes of shared W_down blocks.
@Suite struct OnGridEditTests {
    @Test func onlyTheEditedNeuronsBytesChange() throws {
        let directory = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // gate: Q4_K rows and up: Q8_0 rows, requantized whole; down: Q4_K columns, codes on the grid.
        let tensors: [(String, GGMLType)] = [("blk.0.ffn_gate.weight", .q4_K), ("blk.0.ffn_up.weight", .q8_0), ("blk.0.ffn_down.weight", .q4_K)]
        let n = 256
        let writer = try GGUFWriter(url: directory.appendingPathComponent("base.gguf"))
        try writer.writeHeader(tensorCount: tensors.count, metadataCount: 1)
        try writer.writeKeyValue("general.architecture", .string("llama"))
        for (name, type) in tensors { try writer.writeTensorInfo(name: name, type: type, shape: [n, n]) }
        for (i, (_, type)) in tensors.enumerated() {
            try randomQuantizedBlocks(type, elements: n * n, seed: UInt64(i)).withUnsafeBytes { try writer.writeTensorData($0) }
        }
        try writer.finish()
        let base = try GGUFFile(path: directory.appendingPathComponent("base.gguf").path)

        let rows = [3, 77], columns = [5, 200]
        var rng = SeededRandom(seed: 9)
        var edited: [String: [Float]] = [:]
        for (name, _) in tensors {
            var values = try base.dequantized(name)
            for i in values.indices {
                let (r, c) = (i / n, i % n)
                let owned = name.contains("down") ? columns.contains(c) : rows.contains(r)
                if owned { values[i] += Float(rng.nextGaussian()) * 0.01 }
            }
            edited[name] = values
        }
        let url = directory.appendingPathComponent("edited.gguf")
        try EditedCheckpoint.write(base: base, edited: edited.mapValues { values in { values } }, mode: .onGrid, wholeRows: ["blk.0.ffn_gate.weight", "blk.0.ffn_up.weight"],
                                   metadata: [("scalpel.edit.write_mode", .string("on-grid"))], to: url)
        let result = try GGUFFile(path: url.path)
        for (name, type) in tensors {
            let info = try #require(result.tensor(named: name))
            #expect(info.type == type, "\(name) keeps its type")
            let (old, new) = (Array(base.data(of: base.tensor(named: name)!)), Array(result.data(of: info)))
            let rowBytes = type.byteCount(elements: n)!
            var scaleBytesChanged = 0
            for i in old.indices where old[i] != new[i] {
                let (r, inRow) = (i / rowBytes, i % rowBytes)
                if name.contains("down") {
                    // One Q4_K block per row: d, dmin and the scales (bytes 0–15) never change; codes only.
                    #expect(inRow >= 16, "\(name): a scale byte of row \(r) changed")
                } else {
                    #expect(rows.contains(r), "\(name): row \(r), which no edited neuron owns, changed")
                    if type == .q4_K && inRow < 16 { scaleBytesChanged += 1 }
                }
            }
            // The owned Q4_K rows were requantized, not rounded onto their old grid: their scales moved.
            if name.contains("gate") { #expect(scaleBytesChanged > 0, "\(name): the owned rows kept their scales") }
            let (before, after, target) = (try base.dequantized(name), try result.dequantized(name), edited[name]!)
            var moved = 0
            for i in before.indices where before[i].bitPattern != after[i].bitPattern {
                let (r, c) = (i / n, i % n)
                #expect(name.contains("down") ? columns.contains(c) : rows.contains(r), "\(name): element (\(r), \(c)) moved")
                moved += 1
            }
            #expect(moved > 0, "\(name): the edit shows")
            // On the grid, near the target: within a few grid steps of 0.001–0.003 × 32.
            let error = zip(after, target).map { abs($0 - $1) }.max()!
            #expect(error < 0.2, "\(name): off by \(error)")
        }
    }

    @Test func exactIsRefusedBeyondItsLimitNamingOnGrid() {
        let message = "\(EditError.tooLargeForExact(bytes: 17_000_000_000, limit: EditedCheckpoint.exactLimitBytes))"
        #expect(message.contains("17.0 GB") && message.contains("edit.write: on-grid"))
    }
}
