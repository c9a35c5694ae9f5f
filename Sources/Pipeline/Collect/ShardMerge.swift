import ActivationStores
import Foundation
import HDF5Kit
import Statistics

/// Joins the stores of a sharded collection (`collect --shard i/N`, run anywhere) into the store a single
/// run writes, byte for byte, whatever N is.
///
/// Shards are cut on batch boundaries (`CollectStage.slice`), so each batch of a single run is a batch
/// of exactly one shard, and every store lists its batches (`examples/batches`). The merge replays them
/// in the single run's order, training batches of shard 0, 1, … then dev batches: the same appends give
/// the same file, and the training co-moments, folded in batch by batch as the single run folds them,
/// the same bits (Chan's update is not associative, so the shards' own moments are not merged).
///
/// Shards must come from the same model, data, recipe and Scalpel version, and every shard 0..<N must be
/// present exactly once; a refusal names the shard file.
public enum ShardMerge {
    /// `expecting`: provenance every shard must have (the running build, the stage's inputs now).
    public static func merge(_ shards: [URL], into url: URL, quiet: Bool = false,
                             expecting: [String: String] = [:]) throws {
        let checked = try check(shards)
        for (key, value) in expecting.sorted(by: { $0.key < $1.key }) {
            for (reader, shardURL) in checked where reader.header.provenance[key] != value {
                let what = key == "tool_version" ?
                    "was written by Scalpel \(reader.header.provenance[key] ?? "of an older version"), and this is " +
                        "\(value); collect it again with this build" :
                    "was collected from other inputs (another recipe, prompt, model or data) than the run folder " +
                        "holds now; collect it again"
                throw CollectError.incompatibleShards(detail: "\(shardURL.path) \(what)")
            }
        }
        let ordered = checked.map(\.reader)
        let header = ordered[0].header
        let progress = ProgressReporter("merge", total: ordered.reduce(0) { $0 + $1.rows }, unit: "rows")
        progress.quiet = quiet
        try HDF5File.create(at: url) { root in
            let writer = try ActivationStoreWriter(root: root, header: header)
            var moments = header.positions.map { _ in
                CoMoments(columns: header.columns, metrics: header.metrics.count)
            }
            var done = 0
            for split in [UInt8(0), UInt8(1)] {
                for reader in ordered {
                    for rows in batches(of: reader) where reader.splits[rows.lowerBound] == split {
                        let blocks = try header.positions.indices.map {
                            try reader.block(position: $0, rows: rows, columns: 0..<header.columns)
                        }
                        let m = header.metrics.count
                        let metrics = Array(reader.metricValues[(rows.lowerBound * m)..<(rows.upperBound * m)])
                        if split == 0 {
                            for p in moments.indices { moments[p].add(x: blocks[p], y: metrics, rows: rows.count) }
                        }
                        try writer.append(activations: blocks, metrics: metrics,
                                          indices: Array(reader.indices[rows]), split: split,
                                          tokens: Array(reader.tokens[rows]))
                        done += rows.count
                        progress.update(done)
                    }
                }
            }
            try writer.finish(moments: moments, shard: "all")
        }
    }

    /// The row ranges of a store's batches, in the order they were appended.
    static func batches(of reader: ActivationStoreReader) -> [Range<Int>] {
        var start = 0
        return reader.batches!.map { count in
            defer { start += count }
            return start..<(start + count)
        }
    }

    /// The shards in order, once each, after checking that they belong together.
    static func check(_ shards: [URL]) throws -> [(reader: ActivationStoreReader, url: URL)] {
        guard !shards.isEmpty else { throw CollectError.incompatibleShards(detail: "no shard files were given") }
        var order: [Int: (ActivationStoreReader, URL)] = [:]
        var first: (ActivationStoreReader, URL)?
        var total: Int?
        for url in shards {
            let reader = try ActivationStoreReader(url: url)
            let parts = reader.shard.split(separator: "/").compactMap { Int($0) }
            guard parts.count == 2, parts[0] >= 0, parts[0] < parts[1] else {
                throw CollectError.incompatibleShards(detail: "\(url.path) is not a shard " +
                                                      "(its shard attribute is '\(reader.shard)')")
            }
            if let total, total != parts[1] {
                throw CollectError.incompatibleShards(detail: "\(url.path) is shard \(reader.shard), " +
                                                      "but the others are of \(total)")
            }
            total = parts[1]
            if let (_, first) = order[parts[0]] {
                throw CollectError.incompatibleShards(detail: "shard \(parts[0]) is given twice: " +
                                                      "\(first.path) and \(url.path)")
            }
            guard reader.batches != nil else {
                throw CollectError.incompatibleShards(detail: "\(url.path) does not list its batches " +
                                                      "(an older Scalpel wrote it); collect it again")
            }
            if let (firstReader, firstURL) = first { try agree(reader, url, with: firstReader, firstURL) }
            first = first ?? (reader, url)
            order[parts[0]] = (reader, url)
        }
        let missing = (0..<total!).filter { order[$0] == nil }
        guard missing.isEmpty else {
            throw CollectError.incompatibleShards(
                detail: "shards \(missing.map(String.init).joined(separator: ", ")) of \(total!) are missing; " +
                    "run them with --shard i/\(total!)")
        }
        return (0..<total!).map { order[$0]! }
    }

    /// Refuses a shard that differs from another in what it was made from, naming both and the difference.
    static func agree(_ a: ActivationStoreReader, _ aURL: URL, with b: ActivationStoreReader, _ bURL: URL) throws {
        let what = ["tool_version": "Scalpel version", "model_sha256": "model", "data_sha256": "data",
                    "recipe_sha256": "recipe"]
        for key in ActivationStore.Header.provenanceKeys where a.header.provenance[key] != b.header.provenance[key] {
            throw CollectError.incompatibleShards(
                detail: "\(aURL.path) and \(bURL.path) come from different \(what[key] ?? key)s " +
                    "(\(a.header.provenance[key] ?? "none") and \(b.header.provenance[key] ?? "none")); " +
                    "collect every shard again with one recipe and one Scalpel")
        }
        guard a.header == b.header else {
            throw CollectError.incompatibleShards(detail: "\(aURL.path) differs from \(bURL.path) " +
                                                  "in its layers, positions or metrics")
        }
    }
}
