import Foundation
import FuzzSupport
import Interventions

/// Fuzz target for intervention files (the JSON knob `ablate` writes and `generate --intervene` and
/// `edit.mask_file` read): `Intervention.load`, its error text, then what `generate` does with an accepted
/// file: `validate` against a model's size and, when valid, the hooks for a batch (all rows, and the last
/// row of each sequence), as well as the lowest layer it touches. The same bytes are read as a knob file too.
enum InterventionTarget: FuzzTarget {
    static func exercise(_ bytes: [UInt8]) {
        let url = ScratchFile.write(bytes, name: "intervention.json")
        knob(url)
        let intervention: Intervention
        do { intervention = try Intervention.load(url) } catch {
            FuzzLog.refused(error)
            return
        }
        _ = intervention.firstLayer
        for (layers, width) in [(2, 8), (30, 1536)] {
            guard (try? intervention.validate(layers: layers, width: width)) != nil else { continue }
            _ = intervention.hooks(rows: 3)
            _ = intervention.hooks(rows: 6, lastRows: [2, 5], salt: 7)
        }
    }
}

extension InterventionTarget {
    /// The same bytes as a knob file (`scalpel serve --knobs`, `generate --knob`): `Knob.load`, `validate`,
    /// and for a valid knob the intervention of each strength a request may send, and its hooks.
    static func knob(_ url: URL) {
        let knob: Knob
        do { knob = try Knob.load(url) } catch {
            FuzzLog.refused(error)
            return
        }
        guard (try? knob.validate(layers: 30, width: 1536)) != nil else { return }
        for strength in [0, 0.5, 1, 2, -1, .nan, .infinity] where knob.problem(strength: strength) == nil {
            let intervention = knob.intervention(strength: strength)
            try? intervention?.validate(layers: 30, width: 1536)
            _ = intervention?.hooks(rows: 3, lastRows: [2], salt: 1)
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 { InterventionTarget.fuzz(data, size) }

#if !FUZZING
@main struct Replay { static func main() throws { try InterventionTarget.replay() } }
#endif
