import ActivationStores
import CHDF5
import Foundation
import FuzzSupport
import HDF5Kit
import Pipeline
import Report
import Statistics

/// Fuzz target for the HDF5 files Scalpel reads back: the evidence archive (`EvidenceReader.read`, then the
/// report page and a run comparison, as `scalpel report` makes them) and the activation store
/// (`ActivationStoreReader`, then a block of activations and the metrics of the training rows, as `rank`
/// reads them). An input is one of two things:
///
/// - An HDF5 file (it starts with the signature): `HDF5File.precheck`, Scalpel's own look at the superblock,
///   runs on the raw bytes. libhdf5 then parses them only with SCALPEL_FUZZ_LIBHDF5=1, because libhdf5
///   1.10 crashes on damaged files within seconds of fuzzing, in its C code and past anything Scalpel can
///   check cheaply (docs/fuzzing.md lists what was found); that mode explores libhdf5, not Scalpel.
/// - Otherwise a text description of an archive (`ArchiveText`): HDF5Kit writes it as a well-formed file
///   and the readers read it back. This is where Scalpel's own code meets hostile content: wrong types,
///   shapes and values, missing and extra objects, NaN, negative and huge numbers.
///
/// After each input no HDF5 object may be left open: a handle leaked on an error path would keep a damaged
/// file's metadata cached in libhdf5 for the next open of the same path.
enum ArchiveTarget: FuzzTarget {
    static let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46]
    static let libhdf5 = ProcessInfo.processInfo.environment["SCALPEL_FUZZ_LIBHDF5"] == "1"

    static func exercise(_ bytes: [UInt8]) {
        let url: URL
        if bytes.starts(with: signature) {
            url = ScratchFile.write(bytes, name: "archive.h5")
            do { try HDF5File.precheck(at: url) } catch { return FuzzLog.refused(error) }
            guard libhdf5 else { return FuzzLog.note("passes the pre-check (SCALPEL_FUZZ_LIBHDF5=1 reads it on)") }
        } else {
            url = ScratchFile.write([], name: "archive.h5")
            do { try ArchiveText.write(String(decoding: bytes, as: UTF8.self), to: url) } catch {
                return FuzzLog.refused(error)
            }
        }
        read(url)
        let all = H5F_OBJ_FILE | H5F_OBJ_DATASET | H5F_OBJ_GROUP | H5F_OBJ_DATATYPE | H5F_OBJ_ATTR   // H5F_OBJ_ALL
        let open = H5Fget_obj_count(hid_t(all), UInt32(all))
        precondition(open == 0, "\(open) HDF5 objects are still open after reading the input")
    }

    static func read(_ url: URL) {
        do {
            let evidence = try EvidenceReader.read(url)
            _ = ReportPage.html(evidence)
            _ = RunComparison(evidence, evidence)
            FuzzLog.note("read as an evidence archive, and reported")
        } catch {
            FuzzLog.refused(error)
        }
        do {
            let store = try ActivationStoreReader(url: url)
            let rows = min(store.rows, 3), columns = min(store.header.columns, 5)
            for p in store.header.positions.indices {
                _ = try? store.block(position: p, rows: 0..<rows, columns: 0..<columns)
            }
            for m in store.header.metrics.indices { _ = store.metric(m, rows: store.trainRows) }
            _ = store.devRows
            FuzzLog.note("read as an activation store of \(store.rows) rows")
        } catch {
            FuzzLog.refused(error)
        }
    }

    /// An activation store of 2 layers × 4 neurons at 2 positions, 6 training and 3 dev rows, 2 metrics,
    /// written by `ActivationStoreWriter` as `collect` writes one (Tests/FuzzCorpus/archive/activations.h5),
    /// and the text form of it and of an evidence archive already in DIR. The committed evidence.h5 is that
    /// of a tiny real run, made once like the one of Tests/PipelineTests/ReportTests (prompt, collect, rank,
    /// ablate, edit and audit on a 2-layer model).
    static func writeSeeds(to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let provenance = ["model_sha256": "m", "data_sha256": "d", "recipe_sha256": "r"]
        let header = ActivationStore.Header(layers: [0, 1], neuronsPerLayer: 4, positions: ["last", "mean"],
                                            metrics: ["label", "confidence"], provenance: provenance)
        try HDF5File.create(at: directory.appendingPathComponent("activations.h5")) { root in
            let writer = try ActivationStoreWriter(root: root, header: header)
            var moments = header.positions.map { _ in
                CoMoments(columns: header.columns, metrics: header.metrics.count)
            }
            for row in 0..<9 {
                let activations = header.positions.indices.map { p in
                    (0..<header.columns).map { Float((row * 31 + $0 * 7 + p * 3) % 11) / 5 - 1 }
                }
                let metrics = [Double(row % 2), Double(row) / 10]
                let split: UInt8 = row < 6 ? 0 : 1
                if split == 0 { for p in moments.indices { moments[p].add(x: activations[p], y: metrics, rows: 1) } }
                try writer.append(activations: activations, metrics: metrics, indices: [row * 3], split: split)
            }
            try writer.finish(moments: moments, shard: "all")
        }
        try ArchiveText.dump(directory.appendingPathComponent("activations.h5"))
            .write(to: directory.appendingPathComponent("activations.txt"), atomically: true, encoding: .utf8)
        let evidence = directory.appendingPathComponent("evidence.h5")
        if FileManager.default.fileExists(atPath: evidence.path) {
            try ArchiveText.dump(evidence)
                .write(to: directory.appendingPathComponent("evidence.txt"), atomically: true, encoding: .utf8)
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 { ArchiveTarget.fuzz(data, size) }

#if !FUZZING
@main struct Replay { static func main() throws { try ArchiveTarget.replay() } }
#endif
