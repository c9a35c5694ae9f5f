import HDF5Kit

/// `/audit` of the evidence archive: float64 attributes `accuracy_before`, `accuracy_after`,
/// `accuracy_after_float32_edit` (the edit before rounding into the file's format),
/// `wikitext_perplexity_before`, `wikitext_perplexity_after`, `kl_general`, `bias_score_before`, `bias_score_after`
/// (NaN where not measured); their 95% intervals as 2-element attributes `<name>_ci` and `accuracy_difference_ci`
/// and `bias_score_difference_ci` (paired, after − before; present only when measured); `task_examples`,
/// `bias_pairs`, `unchanged_tensors`, `changed_weights_outside_mask`,
/// `changed_tensors`; per changed tensor `delta_norm` and `max_abs_delta` float64, `changed_rows`,
/// `changed_columns` and `outside_mask` int64 (counts), `changed_bytes`, `changed_blocks` and
/// `blocks_outside_mask` int64 (−1 where not compared); the rows and columns themselves, every tensor's after
/// the previous one's, as `changed_row_list` and `changed_column_list` int64; and `edited_neurons` int64
/// [n, 2] (layer, neuron), when the edited checkpoint names them.
extension Audit.Report {
    /// The measured figures, by attribute (NaN in the archive where not measured), written and read alike.
    public static var figures: [(String, WritableKeyPath<Audit.Report, Double?>)] {
        [("accuracy_before", \.accuracyBefore), ("accuracy_after", \.accuracyAfter),
         ("accuracy_after_float32_edit", \.accuracyFloat32Edit),
         ("wikitext_perplexity_before", \.perplexityBefore), ("wikitext_perplexity_after", \.perplexityAfter),
         ("kl_general", \.klGeneral), ("bias_score_before", \.biasBefore), ("bias_score_after", \.biasAfter)]
    }

    /// The 95% intervals, by attribute (absent where not measured).
    public static var intervals: [(String, WritableKeyPath<Audit.Report, (Double, Double)?>)] {
        [("accuracy_before_ci", \.accuracyIntervalBefore), ("accuracy_after_ci", \.accuracyIntervalAfter),
         ("accuracy_difference_ci", \.differenceInterval), ("bias_score_before_ci", \.biasIntervalBefore),
         ("bias_score_after_ci", \.biasIntervalAfter), ("bias_score_difference_ci", \.biasDifferenceInterval)]
    }

    public func write(into group: HDF5Group) throws {
        for (key, figure) in Self.figures { try group.setAttribute(key, .double(self[keyPath: figure] ?? .nan)) }
        for (key, interval) in Self.intervals {
            if let bounds = self[keyPath: interval] { try group.setAttribute(key, .doubles([bounds.0, bounds.1])) }
        }
        try group.setAttribute("task_examples", .int(Int64(taskExamples)))
        try group.setAttribute("bias_pairs", .int(Int64(biasPairs)))
        try group.setAttribute("unchanged_tensors", .int(Int64(unchangedTensors)))
        try group.setAttribute("changed_weights_outside_mask", .int(Int64(outsideMask)))
        try group.setAttribute("changed_tensors", .strings(changes.map(\.name)))
        try group.write("delta_norm", changes.map(\.deltaNorm), shape: [changes.count])
        try group.write("changed_rows", changes.map { Int64($0.changedRows.count) }, shape: [changes.count])
        try group.write("changed_columns", changes.map { Int64($0.changedColumns.count) }, shape: [changes.count])
        // The byte diff of GGUF tensors kept in their type (-1 where the tensor's type changed, or for folders).
        try group.write("changed_bytes", changes.map { Int64($0.changedBytes ?? -1) }, shape: [changes.count])
        try group.write("changed_blocks", changes.map { Int64($0.changedBlocks ?? -1) }, shape: [changes.count])
        try group.write("blocks_outside_mask", changes.map { Int64($0.blocksOutsideMask ?? -1) },
                        shape: [changes.count])
        try group.write("max_abs_delta", changes.map(\.maxAbsDelta), shape: [changes.count])
        try group.write("outside_mask", changes.map { Int64($0.outsideMask) }, shape: [changes.count])
        let rows = changes.flatMap(\.changedRows).map(Int64.init)
        let columns = changes.flatMap(\.changedColumns).map(Int64.init)
        try group.write("changed_row_list", rows, shape: [rows.count])
        try group.write("changed_column_list", columns, shape: [columns.count])
        if let neurons { try group.writeNeurons("edited_neurons", neurons) }
    }

    /// The report as `write(into:)` left it in `group`, from the archive at `path` (named in errors).
    public static func read(from group: HDF5Group, path: String) throws -> Audit.Report {
        let incomplete = CollectError.corruptStore(
            path: path, detail: "/audit is incomplete (written by another version of Scalpel, or damaged); " +
                                "`scalpel audit --recipe RECIPE` computes it again")
        func measured(_ name: String) throws -> Double? {
            guard case .double(let value) = try group.attribute(name) else { throw incomplete }
            return value.isNaN ? nil : value
        }
        func interval(_ name: String) -> (Double, Double)? {
            guard case .doubles(let bounds)? = try? group.attribute(name), bounds.count == 2 else { return nil }
            return (bounds[0], bounds[1])
        }
        func count(_ name: String) throws -> Int {
            guard case .int(let value) = try group.attribute(name) else { throw incomplete }
            return Int(value)
        }
        guard case .strings(let names) = try group.attribute("changed_tensors") else { throw incomplete }
        let changes = try changedTensors(names, group: group, incomplete: incomplete)
        let neurons = group.kind(of: "edited_neurons") == .dataset ?
            try group.readNeurons("edited_neurons", path: path) : nil
        var report = Audit.Report(neurons: neurons, taskExamples: try count("task_examples"), changes: changes,
                                  unchangedTensors: try count("unchanged_tensors"))
        for (key, figure) in figures { report[keyPath: figure] = try measured(key) }
        for (key, bounds) in intervals { report[keyPath: bounds] = interval(key) }
        report.biasPairs = try count("bias_pairs")
        return report
    }

    /// Each changed tensor's row of `/audit`, its rows and columns cut from the concatenated lists.
    static func changedTensors(_ names: [String], group: HDF5Group,
                               incomplete: Error) throws -> [Audit.TensorChange] {
        func ints(_ name: String) throws -> [Int] { try group.read(name, as: Int64.self).values.map(Int.init) }
        func doubles(_ name: String) throws -> [Double] { try group.read(name, as: Double.self).values }
        let (norms, maxima) = (try doubles("delta_norm"), try doubles("max_abs_delta"))
        let (rowCounts, columnCounts, outside) = (try ints("changed_rows"), try ints("changed_columns"),
                                                 try ints("outside_mask"))
        let (bytes, blocks, stray) = (try ints("changed_bytes"), try ints("changed_blocks"),
                                      try ints("blocks_outside_mask"))
        var rows = try ints("changed_row_list")[...], columns = try ints("changed_column_list")[...]
        let n = names.count
        guard [norms.count, maxima.count, rowCounts.count, columnCounts.count, outside.count, bytes.count,
               blocks.count, stray.count].allSatisfy({ $0 == n }),
              rows.count == rowCounts.reduce(0, +), columns.count == columnCounts.reduce(0, +) else { throw incomplete }
        func known(_ value: Int) -> Int? { value < 0 ? nil : value }
        return names.indices.map { i in
            defer { rows = rows.dropFirst(rowCounts[i]); columns = columns.dropFirst(columnCounts[i]) }
            return Audit.TensorChange(name: names[i], changedRows: Array(rows.prefix(rowCounts[i])),
                                      changedColumns: Array(columns.prefix(columnCounts[i])), deltaNorm: norms[i],
                                      maxAbsDelta: maxima[i], outsideMask: outside[i], changedBytes: known(bytes[i]),
                                      changedBlocks: known(blocks[i]), blocksOutsideMask: known(stray[i]))
        }
    }
}
