import HDF5Kit

/// `/audit` of the evidence archive: float64 attributes `accuracy_before`, `accuracy_after`,
/// `accuracy_after_float32_edit` (the edit before rounding into the file's format),
/// `wikitext_perplexity_before`, `wikitext_perplexity_after`, `kl_general`, `bias_score_before`, `bias_score_after`
/// (NaN where not measured); their 95% intervals as 2-element attributes `<name>_ci` and `accuracy_difference_ci`
/// and `bias_score_difference_ci` (paired, after − before; present only when measured); `task_examples`,
/// `bias_pairs`, `unchanged_tensors`, `changed_weights_outside_mask`,
/// `changed_tensors`; and per changed tensor `delta_norm` float64, `changed_rows` and `changed_columns` int64.
extension Audit.Report {
    public func write(into group: HDF5Group) throws {
        for (key, value) in [("accuracy_before", accuracyBefore), ("accuracy_after", accuracyAfter),
                             ("accuracy_after_float32_edit", accuracyFloat32Edit),
                             ("wikitext_perplexity_before", perplexityBefore),
                             ("wikitext_perplexity_after", perplexityAfter), ("kl_general", klGeneral),
                             ("bias_score_before", biasBefore),
                             ("bias_score_after", biasAfter)] {
            try group.setAttribute(key, .double(value ?? .nan))
        }
        for (key, interval) in [("accuracy_before_ci", accuracyIntervalBefore),
                                ("accuracy_after_ci", accuracyIntervalAfter),
                                ("accuracy_difference_ci", differenceInterval),
                                ("bias_score_before_ci", biasIntervalBefore),
                                ("bias_score_after_ci", biasIntervalAfter),
                                ("bias_score_difference_ci", biasDifferenceInterval)] {
            if let interval { try group.setAttribute(key, .doubles([interval.0, interval.1])) }
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
    }
}
