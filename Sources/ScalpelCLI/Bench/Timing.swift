import ArgumentParser
import Foundation
import Scalpel

/// Best-of timing for every benchmark: one untimed warm-up, then at least `runs` timed runs and as many
/// more as fit in `minimumSeconds`. The best run is the one least disturbed by the scheduler, which on a
/// shared 2-core machine is the only stable figure.
func bestSeconds(runs: Int = 1, minimumSeconds: Double = 0, progress: ((Int, Double) -> Void)? = nil,
                 _ body: () throws -> Void) rethrows -> Double {
    _ = kernelAnnounced
    try body()
    var best = Double.infinity
    var done = 0
    let begin = now()
    repeat {
        let start = now()
        try body()
        best = min(best, now() - start)
        done += 1
        progress?(done, best)
    } while done < runs || now() - begin < minimumSeconds
    return best
}

/// sgemm GFLOP/s for x[M, K] · W[N, K]ᵀ (the layout `linear` uses), on seeded random operands.
/// - naiveRows: if set, the triple loop on the first that many rows instead of OpenBLAS on all of them.
func sgemmRate(m: Int, k: Int, n: Int, minimumSeconds: Double, naiveRows: Int? = nil) -> Double {
    var rng = SeededRandom(seed: 1)
    let a = Tensor(randomNormal: [m, k], using: &rng), b = Tensor(randomNormal: [n, k], using: &rng)
    var c = Tensor(shape: [m, n])
    let rows = naiveRows.map { min($0, m) } ?? m
    let seconds = a.withPointer { ap in b.withPointer { bp in c.withMutablePointer { cp in
        bestSeconds(minimumSeconds: minimumSeconds) {
            if naiveRows == nil {
                sgemm(.normal, .transposed, m: rows, n: n, k: k, a: ap, lda: k, b: bp, ldb: k, c: cp, ldc: n)
            } else {
                sgemmNaive(.normal, .transposed, m: rows, n: n, k: k, a: ap, lda: k, b: bp, ldb: k, c: cp, ldc: n)
            }
        }
    } } }
    return 2 * Double(rows * n * k) / seconds / 1e9
}

/// Every benchmark says which OpenBLAS kernel it measured (once, on stderr; `--json` carries it too).
private let kernelAnnounced: Void = {
    Output.progress("bench: OpenBLAS kernel \(BLASCore.running) (chosen by \(BLASCore.chooser))")
}()

/// What every benchmark's JSON says about its model: the file, its size, and where the weights lived.
func modelRecord(_ loaded: LoadedModel) -> [String: Any] {
    let size = (try? FileManager.default.attributesOfItem(atPath: loaded.path)[.size] as? Int) ?? 0
    return ["model_path": loaded.path, "model_file_mb": Double(size) / 1_048_576, "weights": loaded.storage.rawValue]
}

/// Parses `--weights`: stored, float32, or both (each in turn, in one process, stored first).
func weightStorages(_ text: String) throws -> [WeightStorage] {
    if text == "both" { return [.asStored, .float32] }
    guard let storage = WeightStorage(rawValue: text) else {
        throw ValidationError("--weights is '\(text)'; it takes stored (the file's format, the default), " +
                              "float32 (decoded at load) or both")
    }
    return [storage]
}
