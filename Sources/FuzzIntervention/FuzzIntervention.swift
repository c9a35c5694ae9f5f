import Foundation
import FuzzSupport
import Interventions

/// Fuzz target for intervention files (the JSON knob `ablate` writes and `generate --intervene` and
/// `edit.mask_file` read): `Intervention.load`, its error text, then what `generate` does with an accepted
/// file: `validate` against a model's size and, when valid, the hooks for a batch (all rows, and the last
/// row of each sequence), as well as the lowest layer it touches.
enum InterventionTarget: FuzzTarget {
    static func exercise(_ bytes: [UInt8]) {
        let url = ScratchFile.write(bytes, name: "intervention.json")
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

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 { InterventionTarget.fuzz(data, size) }

#if !FUZZING
@main struct Replay { static func main() throws { try InterventionTarget.replay() } }
#endif
