import Foundation
import HDF5Kit
import Statistics

/// The on-disk activation store written by `collect`: every recorded FFN-site value of every collected
/// example, chunked so that a block of neurons over all examples is one cheap read, plus the examples'
/// metrics and the streaming co-moments of the training rows.
///
/// Layout of `collect/activations.h5` (or of one shard, `collect/shard-I-of-N.h5`), schema `scalpel.activations/1`:
/// - attributes: `schema`, `layers` (ints), `neurons_per_layer`, `positions` (strings), `metrics` (strings),
///   `train_rows`, `dev_rows`, `shard` ("I/N" or "all"), `model_sha256`, `data_sha256`, `recipe_sha256`,
///   `tool_version` (the Scalpel build that wrote it), `inputs_sha256` (the stage's inputs: recipe, options,
///   prompt, model and data).
/// - `activations/<position>`: float32 [rows, layers × neurons]; column l·F + i is neuron i of the l-th
///   recorded layer; rows are the training examples, then the dev examples. Chunks [64, 1024].
/// - `examples/index`: int64 [rows, 1], each row's index in the dataset; `examples/token`: int64 [rows, 1], the
///   token position of a per-token row (−1 for per-example rows); `examples/split`: uint8 [rows, 1], 0 train, 1 dev;
///   `examples/batches`: int64 [batches], the rows of each batch in the order they were appended (a merge
///   replays them, so that a merged store is byte for byte a single run's).
/// - `metrics/values`: float64 [rows, metrics].
/// - `moments/<position>/{count, mean_x, squares_x, mean_y, squares_y, cross}`: the training rows' `CoMoments`.
public enum ActivationStore {
    public static let schema = "scalpel.activations/1"
    public static let chunkRows = 64
    public static let chunkColumns = 1024

    public struct Header: Equatable, Sendable {
        public var layers: [Int]
        public var neuronsPerLayer: Int
        public var positions: [String]
        public var metrics: [String]
        public var provenance: [String: String]   // model_sha256, data_sha256, recipe_sha256, tool_version
        /// The provenance keys a store keeps.
        public static let provenanceKeys = ["model_sha256", "data_sha256", "recipe_sha256", "tool_version",
                                            "inputs_sha256"]
        public var columns: Int { layers.count * neuronsPerLayer }

        public init(layers: [Int], neuronsPerLayer: Int, positions: [String], metrics: [String],
                    provenance: [String: String]) {
            self.layers = layers
            self.neuronsPerLayer = neuronsPerLayer
            self.positions = positions
            self.metrics = metrics
            self.provenance = provenance
        }
    }
}

/// A file that cannot be read as an activation store: a missing or mistyped attribute, another schema,
/// datasets that disagree on their sizes, or an HDF5 read that failed (its error as the detail).
public enum ActivationStoreError: Error, CustomStringConvertible, Equatable {
    case corrupt(path: String, detail: String)

    public var description: String {
        switch self {
        case .corrupt(let path, let detail): return "\(path): \(detail)"
        }
    }
}

/// Streams rows into a new store. Rows (and their example index, split and metrics) are buffered one
/// chunk-height at a time, so memory stays at 64 rows × columns × positions whatever the number of rows.
public final class ActivationStoreWriter {
    let header: ActivationStore.Header
    let root: HDF5Group
    let matrices: [HDF5Dataset]
    let indexTable: HDF5Dataset, tokenTable: HDF5Dataset, splitTable: HDF5Dataset, metricTable: HDF5Dataset
    var buffers: [[Float]]
    var bufferedIndices: [Int64] = [], bufferedTokens: [Int64] = [],
        bufferedSplits: [UInt8] = [], bufferedMetrics: [Double] = []
    var bufferedRows = 0
    /// The rows of each `append`, in order.
    var batches: [Int64] = []
    public private(set) var rows = 0
    public private(set) var trainRows = 0
    var sawDev = false

    public init(root: HDF5Group, header: ActivationStore.Header) throws {
        self.header = header
        self.root = root
        let group = try root.createGroup("activations")
        matrices = try header.positions.map {
            try group.createGrowingMatrix($0, of: Float.self, columns: header.columns,
                                          chunkRows: ActivationStore.chunkRows,
                                          chunkColumns: ActivationStore.chunkColumns)
        }
        let examples = try root.createGroup("examples")
        indexTable = try examples.createGrowingMatrix("index", of: Int64.self, columns: 1, chunkRows: 4096,
                                                      chunkColumns: 1)
        tokenTable = try examples.createGrowingMatrix("token", of: Int64.self, columns: 1, chunkRows: 4096,
                                                      chunkColumns: 1)
        splitTable = try examples.createGrowingMatrix("split", of: UInt8.self, columns: 1, chunkRows: 4096,
                                                      chunkColumns: 1)
        metricTable = try root.createGroup("metrics").createGrowingMatrix("values", of: Double.self,
                                                                          columns: max(1, header.metrics.count),
                                                                           chunkRows: 1024,
                                                                           chunkColumns: max(1, header.metrics.count))
        buffers = header.positions.map { _ in [] }
    }

    /// Appends b rows. - activations: per position, [b, columns]; - metrics: [b, M]; - tokens: each row's
    /// token position in its text for per-token rows, nil for per-example rows (stored as −1).
    /// Training rows must all come before the dev rows.
    public func append(activations: [[Float]], metrics: [Double], indices: [Int], split: UInt8,
                       tokens: [Int]? = nil) throws {
        let b = indices.count
        precondition(activations.count == matrices.count && metrics.count == b * header.metrics.count,
                     "ActivationStoreWriter: batch shapes")
        precondition(split == 1 || !sawDev, "ActivationStoreWriter: a training row after dev rows")
        if split == 1 { sawDev = true } else { trainRows += b }
        for (p, rows) in activations.enumerated() {
            precondition(rows.count == b * header.columns, "ActivationStoreWriter: position \(p) is not \(b) rows")
            buffers[p].append(contentsOf: rows)
        }
        bufferedRows += b
        rows += b
        if b > 0 { batches.append(Int64(b)) }
        bufferedIndices += indices.map(Int64.init)
        bufferedTokens += tokens.map { $0.map(Int64.init) } ?? [Int64](repeating: -1, count: b)
        bufferedSplits += [UInt8](repeating: split, count: b)
        bufferedMetrics += metrics
        if bufferedRows >= ActivationStore.chunkRows { try flush() }
    }

    func flush() throws {
        guard bufferedRows > 0 else { return }
        for (p, matrix) in matrices.enumerated() {
            try matrix.appendRows(buffers[p], rows: bufferedRows)
            buffers[p].removeAll(keepingCapacity: true)
        }
        try indexTable.appendRows(bufferedIndices, rows: bufferedRows)
        try tokenTable.appendRows(bufferedTokens, rows: bufferedRows)
        try splitTable.appendRows(bufferedSplits, rows: bufferedRows)
        try metricTable.appendRows(header.metrics.isEmpty ? [Double](repeating: .nan, count: bufferedRows) :
                                       bufferedMetrics,
                                   rows: bufferedRows)
        bufferedIndices.removeAll(keepingCapacity: true)
        bufferedTokens.removeAll(keepingCapacity: true)
        bufferedSplits.removeAll(keepingCapacity: true)
        bufferedMetrics.removeAll(keepingCapacity: true)
        bufferedRows = 0
    }

    /// Writes the moments and attributes; call once, after the last row.
    public func finish(moments: [CoMoments], shard: String) throws {
        try flush()
        try root.group("examples").write("batches", batches, shape: [batches.count])
        let group = try root.createGroup("moments")
        for (name, m) in zip(header.positions, moments) { try writeMoments(m, into: try group.createGroup(name)) }
        try root.setAttribute("schema", .string(ActivationStore.schema))
        try root.setAttribute("layers", .ints(header.layers.map(Int64.init)))
        try root.setAttribute("neurons_per_layer", .int(Int64(header.neuronsPerLayer)))
        try root.setAttribute("positions", .strings(header.positions))
        try root.setAttribute("metrics", .strings(header.metrics))
        try root.setAttribute("train_rows", .int(Int64(trainRows)))
        try root.setAttribute("dev_rows", .int(Int64(rows - trainRows)))
        try root.setAttribute("shard", .string(shard))
        for (key, value) in header.provenance.sorted(by: { $0.key < $1.key }) {
            try root.setAttribute(key, .string(value))
        }
    }
}

func writeMoments(_ m: CoMoments, into group: HDF5Group) throws {
    try group.write("count", [Int64(m.count)], shape: [1])
    try group.write("mean_x", m.meanX, shape: [m.columns])
    try group.write("squares_x", m.squaresX, shape: [m.columns])
    try group.write("mean_y", m.meanY, shape: [m.metrics])
    try group.write("squares_y", m.squaresY, shape: [m.metrics])
    try group.write("cross", m.cross, shape: [m.columns, m.metrics])
}

func readMoments(_ group: HDF5Group) throws -> CoMoments {
    let count = try group.read("count", as: Int64.self).values
    let parts = try ["mean_x", "squares_x", "mean_y", "squares_y", "cross"].map {
        try group.read($0, as: Double.self).values
    }
    guard count.count == 1, parts[0].count == parts[1].count, parts[2].count == parts[3].count,
          parts[4].count == parts[0].count * parts[2].count else {
        throw ActivationStoreError.corrupt(path: group.fileName,
                                           detail: "the moments in \(group.path) have inconsistent sizes")
    }
    return CoMoments(count: Int(count[0]), meanX: parts[0], squaresX: parts[1], meanY: parts[2],
                     squaresY: parts[3], cross: parts[4])
}

/// A store opened for reading.
public final class ActivationStoreReader {
    public let file: HDF5File
    public let header: ActivationStore.Header
    public let shard: String
    public let indices: [Int]
    /// Token position of each per-token row; −1 for per-example rows.
    public let tokens: [Int]
    public let splits: [UInt8]
    /// [rows, metrics]
    public let metricValues: [Double]
    public let moments: [CoMoments]
    /// The rows of each batch as it was appended; nil for a store written before they were kept.
    public let batches: [Int]?
    let matrices: [HDF5Dataset]

    public var rows: Int { indices.count }
    public var trainRows: Range<Int> { 0..<(splits.firstIndex(where: { $0 != 0 }) ?? rows) }
    public var devRows: Range<Int> { trainRows.upperBound..<rows }

    public init(url: URL) throws {
        // An HDF5Error names the file, says whether it is missing, truncated or corrupt, and what to do.
        file = try HDF5File.open(at: url)
        let root = file.root
        func attribute(_ name: String) throws -> HDF5AttributeValue {
            do { return try root.attribute(name) } catch {
                throw ActivationStoreError.corrupt(path: url.path,
                                                   detail: "attribute '\(name)' is missing; " +
                                                   "this is not a complete activation store")
            }
        }
        guard case .string(let schema) = try attribute("schema"), schema == ActivationStore.schema else {
            throw ActivationStoreError.corrupt(path: url.path,
                                               detail: "its schema is not \(ActivationStore.schema); " +
                                               "it was written by another version, so collect again")
        }
        guard case .ints(let layers) = try attribute("layers"),
              case .int(let width) = try attribute("neurons_per_layer"),
              case .strings(let positions) = try attribute("positions"),
              case .int(let trainRows) = try attribute("train_rows"),
              case .strings(let metrics) = (try? attribute("metrics")) ?? .strings([]),
              case .string(let shard) = try attribute("shard") else {
            throw ActivationStoreError.corrupt(path: url.path, detail: "its attributes have the wrong types")
        }
        guard trainRows >= 0, width >= 0, !layers.count.multipliedReportingOverflow(by: Int(width)).overflow else {
            let what = "\(layers.count) layers of \(width) neurons, \(trainRows) training rows"
            throw ActivationStoreError.corrupt(path: url.path, detail: "its attributes are impossible (\(what)); "
                                               + "run `scalpel collect` again")
        }
        var provenance: [String: String] = [:]
        for key in ActivationStore.Header.provenanceKeys {
            if case .string(let v)? = try? root.attribute(key) { provenance[key] = v }
        }
        header = ActivationStore.Header(layers: layers.map(Int.init), neuronsPerLayer: Int(width), positions: positions,
                                        metrics: metrics, provenance: provenance)
        self.shard = shard
        do {
            indices = try root.group("examples").read("index", as: Int64.self).values.map(Int.init)
            tokens = try root.group("examples").read("token", as: Int64.self).values.map(Int.init)
            splits = try root.group("examples").read("split", as: UInt8.self).values
            let examples = try root.group("examples")
            batches = examples.kind(of: "batches") == nil ? nil :
                try examples.read("batches", as: Int64.self).values.map(Int.init)
            metricValues = try root.group("metrics").read("values", as: Double.self).values
            let momentGroup = try root.group("moments")
            moments = try positions.map { try readMoments(try momentGroup.group($0)) }
            let group = try root.group("activations")
            matrices = try positions.map { try group.dataset($0) }
        } catch let error as ActivationStoreError { throw error } catch {
            throw ActivationStoreError.corrupt(path: url.path, detail: "\(error)")
        }
        let rows = indices.count
        guard splits.count == rows, tokens.count == rows, metricValues.count == rows * max(1, metrics.count),
              splits.prefix(Int(trainRows)).allSatisfy({ $0 == 0 }),
              batches.map({ $0.allSatisfy { $0 > 0 } && $0.reduce(0, +) == rows }) ?? true,
              try matrices.allSatisfy({ try $0.shape() == [rows, header.columns] }),
              moments.allSatisfy({ $0.columns == header.columns && $0.metrics == metrics.count }) else {
            throw ActivationStoreError.corrupt(path: url.path,
                                               detail: "its datasets disagree on the number of rows or columns")
        }
    }

    /// Activations of `rows` × `columns` at position p, row-major.
    public func block(position p: Int, rows: Range<Int>, columns: Range<Int>) throws -> [Float] {
        try matrices[p].readBlock(rows: rows, columns: columns)
    }

    /// Metric m of every row in `rows`.
    public func metric(_ m: Int, rows: Range<Int>) -> [Double] {
        rows.map { metricValues[$0 * header.metrics.count + m] }
    }
}
