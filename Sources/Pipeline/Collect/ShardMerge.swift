import ActivationStores
import Foundation
import HDF5Kit
import Statistics

/// Joins the stores of a sharded collection (`collect --shard i/N`, run anywhere) into the store a single
/// run would have written: the shards' training rows in shard order, then their dev rows, and the
/// training co-moments merged with Chan's update. Shards must come from the same model, data, recipe
/// and layout, and every shard 0..<N must be present exactly once.
public enum ShardMerge {
    public static func merge(_ shards: [URL], into url: URL, quiet: Bool = false) throws {
        guard !shards.isEmpty else { throw CollectError.incompatibleShards(detail: "no shard files were given") }
        let readers = try shards.map { try ActivationStoreReader(url: $0) }
        var order: [Int: ActivationStoreReader] = [:]
        var total: Int?
        for (reader, url) in zip(readers, shards) {
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
            if order[parts[0]] != nil {
                throw CollectError.incompatibleShards(detail: "shard \(parts[0]) is given twice")
            }
            order[parts[0]] = reader
            guard reader.header == readers[0].header else {
                throw CollectError.incompatibleShards(detail: "\(url.path) differs from \(shards[0].path) " +
                                                      "in its model, data, recipe, layers, positions or metrics")
            }
        }
        let missing = (0..<total!).filter { order[$0] == nil }
        guard missing.isEmpty else {
            throw CollectError.incompatibleShards(
                detail: "shards \(missing.map(String.init).joined(separator: ", ")) of \(total!) are missing; " +
                    "run them with --shard i/\(total!)")
        }
        let ordered = (0..<total!).map { order[$0]! }
        let header = ordered[0].header
        let progress = ProgressReporter("merge", total: ordered.reduce(0) { $0 + $1.rows }, unit: "rows")
        progress.quiet = quiet
        try HDF5File.create(at: url) { root in
            let writer = try ActivationStoreWriter(root: root, header: header)
            var done = 0
            for split in [UInt8(0), UInt8(1)] {
                for reader in ordered {
                    let rows = split == 0 ? reader.trainRows : reader.devRows
                    var start = rows.lowerBound
                    while start < rows.upperBound {
                        let end = min(rows.upperBound, start + ActivationStore.chunkRows)
                        let blocks = try header.positions.indices.map {
                            try reader.block(position: $0, rows: start..<end, columns: 0..<header.columns)
                        }
                        let metrics = Array(
                            reader.metricValues[(start * header.metrics.count)..<(end * header.metrics.count)])
                        try writer.append(activations: blocks, metrics: metrics,
                                          indices: Array(reader.indices[start..<end]), split: split,
                                          tokens: Array(reader.tokens[start..<end]))
                        done += end - start
                        progress.update(done)
                        start = end
                    }
                }
            }
            var moments = header.positions.map { _ in
                CoMoments(columns: header.columns, metrics: header.metrics.count)
            }
            for reader in ordered { for p in moments.indices { moments[p].merge(reader.moments[p]) } }
            try writer.finish(moments: moments, shard: "all")
        }
    }
}
