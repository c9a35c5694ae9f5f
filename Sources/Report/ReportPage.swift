import Foundation

/// The HTML page of one run: every section the archive has, each figure as inline SVG, each number in a
/// cell whose `data-key` names the archive value it shows (see `EvidenceReader` for where each comes from).
public enum ReportPage {
    static let skillColor = "#c0392b", randomColor = "#4a6fa5", baselineColor = "#777"

    public static func html(_ e: RunEvidence) -> String {
        let name = e.provenance.first { $0.name == "recipe_file" }?.value ?? e.archive
        var body = "<h1>Scalpel report: \(HTML.escape(name))</h1>"
        body += "<p class=\"sub\">\(HTML.escape(e.archive)) · schema \(HTML.escape(e.schema))</p>"
        body += headline(e)
        if let p = e.prompt { body += prompt(p) }
        if let r = e.rank { body += rank(r, collect: e.collect) }
        if let a = e.ablate { body += ablate(a) }
        if let ed = e.edit { body += edit(ed) }
        if let au = e.audit { body += audit(au) }
        body += provenance(e)
        body += HTML.embedded(e, id: "scalpel-evidence")
        return HTML.page(title: "Scalpel report: \(name)", body: body)
    }

    static func headline(_ e: RunEvidence) -> String {
        guard !e.headline.isEmpty else { return "<p class=\"empty\">The archive has no finished stage yet.</p>" }
        let rows = e.headline.keys.sorted().map {
            """
            \(HTML.cell($0))\(HTML.number(
                e.headline[$0], digits: e.headline[$0].map { $0 == $0.rounded() && abs($0) >= 1 } == true ? 0 : 4,
                key: "headline.\($0)"))
            """
        }
        return "<h2>Headline</h2>" + HTML.table(["figure", "value"], rows, id: "headline")
    }

    static func prompt(_ p: RunEvidence.Prompt) -> String {
        var s = "<h2>Soft prompt</h2>"
        var rows = ["\(HTML.cell("virtual tokens"))\(HTML.number(Double(p.length), digits: 0))",
                    "\(HTML.cell("epochs"))\(HTML.number(Double(p.epochs), digits: 0))",
                    """
                    \(HTML.cell("zero-shot test accuracy"))\
                    \(HTML.number(p.zeroShotAccuracy, digits: 4, key: "prompt.zero_shot_accuracy"))
                    """,
                    """
                    \(HTML.cell("soft-prompt test accuracy"))\
                    \(HTML.number(p.promptAccuracy, digits: 4, key: "prompt.prompt_accuracy"))
                    """,
                    """
                    \(HTML.cell("best dev accuracy"))\
                    \(HTML.number(p.devAccuracy, digits: 4, key: "prompt.dev_accuracy"))
                    """]
        if let m = p.margin {
            rows.append("\(HTML.cell("margin over zero-shot (paired bootstrap 95% CI)"))" +
                        "\(HTML.number(m, digits: 4, key: "prompt.margin"))" +
                        "\(HTML.interval(p.marginInterval?.first, p.marginInterval?.last, digits: 4))")
        }
        s += HTML.table(["", "value", ""], rows, id: "prompt")
        let steps = p.loss.indices.map { Double($0 + 1) }
        var chart = SVGChart(title: "Soft-prompt training loss", xLabel: "step", yLabel: "cross-entropy",
                             id: "prompt-loss")
        chart.lines.append(.init(label: "loss", x: steps, y: p.loss, color: "#bbb", markers: false))
        chart.lines.append(.init(label: "moving mean (20)", x: steps, y: movingMean(p.loss, window: 20),
                                 color: "#1f77b4", markers: false))
        s += "<div class=\"charts\">" + chart.render()
        if !p.devAccuracies.isEmpty {
            var dev = SVGChart(title: "Dev accuracy after each epoch", xLabel: "epoch", yLabel: "accuracy",
                               id: "prompt-dev")
            dev.lines.append(.init(label: "dev accuracy", x: p.devAccuracies.indices.map { Double($0 + 1) },
                                   y: p.devAccuracies, color: "#2ca02c"))
            s += dev.render()
        }
        return s + "</div>"
    }

    static func rank(_ r: RunEvidence.Rank, collect: RunEvidence.Collect?) -> String {
        var s = "<h2>Skill neurons</h2>"
        if let c = collect {
            s += "<p class=\"note\">\(c.trainRows) training and \(c.devRows) dev rows; positions " +
                "\(HTML.escape(c.positions.joined(separator: ", "))); " +
                "\(c.layers.count) layers × \(c.neuronsPerLayer) neurons. "
        } else { s += "<p class=\"note\">" }
        s += "Selection: \(HTML.escape(r.rule)) by \(HTML.escape(r.statistic)) against " +
            "<b>\(HTML.escape(r.primaryMetric))</b>; \(r.permutations) permutations per p-value; " +
            "\(r.constantNeurons) constant neuron-positions excluded.</p>"
        let metricRows = r.metrics.map { m -> String in
            let key = "rank.\(m.metric)"
            if let reason = m.excluded {
                return "\(HTML.cell(m.metric))<td colspan=\"4\">excluded: \(HTML.escape(reason))</td>"
            }
            return HTML.cell(m.metric) + HTML.number(m.topMeanAbs["1"], key: "\(key).top1_mean_abs")
                + HTML.number(m.topMeanAbs["10"], key: "\(key).top10_mean_abs")
                + HTML.number(m.topMeanAbs["50"], key: "\(key).top50_mean_abs")
                + HTML.cell(m.predictivity.map {
                    $0.isEmpty ? "–" : String(format: "%.3f–%.3f", $0.min()!, $0.max()!)
                } ?? "–")
        }
        s += "<h3>Every metric</h3>" + HTML.table(["metric", "top-1 |score|", "top-10 mean |score|",
                                                   "top-50 mean |score|", "predictivity of the top 10"],
                                                  metricRows, id: "metrics")

        if let primary = r.metrics.first(where: { $0.metric == r.primaryMetric }), primary.excluded == nil {
            let rows = primary.selection.enumerated().map { i, n -> String in
                let key = "rank.\(primary.metric).selection.\(i)"
                return HTML.number(Double(i + 1), digits: 0)
                    + "<td data-key=\"\(HTML.escape(key)).neuron\">L\(n.layer).\(n.neuron)</td>" + HTML.cell(n.position)
                    + HTML.number(n.score, key: "\(key).score") + HTML.interval(n.ciLow, n.ciHigh)
                    + HTML.number(n.pValue, digits: 4, key: "\(key).p_value")
                    + HTML.number(n.qValue, digits: 4, key: "\(key).q_value")
            }
            s += "<h3>Selected neurons (\(HTML.escape(primary.metric)))</h3>"
            s += HTML.table(["#", "neuron", "position", r.statistic, "bootstrap 95% CI", "p", "q"], rows,
                            id: "selection")
        }
        let boxes = r.layerScores.map {
            (label: String($0.layer), minimum: $0.minimum, q1: $0.lowerQuartile, median: $0.median,
             q3: $0.upperQuartile, maximum: $0.maximum)
        }
        s += "<h3>Scores by layer</h3><div class=\"charts\">"
        s += SVGBoxPlot(title: "|\(r.statistic)| with \(r.primaryMetric), every neuron at its best position",
                        yLabel: "|\(r.statistic)|", boxes: boxes, id: "layer-scores").render()
        s += SVGHeatmap(title: "Layer × neuron map of |\(r.statistic)|", rowLabels: r.map.layers.map { "L\($0)" },
                        cells: r.map.cells,
                        columnNote: "each cell: the largest |score| among " +
                            "\(r.map.neuronsPerCell) consecutive neurons",
                        id: "score-map").render()
        s += "</div>"
        let layerRows = r.layerScores.map { l in
            HTML.cell("L\(l.layer)") + HTML.number(Double(l.neurons), digits: 0)
                + HTML.number(l.median, key: "rank.layer.\(l.layer).median")
                + HTML.number(l.maximum, key: "rank.layer.\(l.layer).maximum")
                + HTML.number(Double(l.selected), digits: 0, key: "rank.layer.\(l.layer).selected")
        }
        s += HTML.table(["layer", "neurons scored", "median |score|", "max |score|", "selected"], layerRows,
                        id: "layers")
        if !r.overlaps.isEmpty {
            let rows = r.overlaps.map {
                HTML.cell($0.a) + HTML.cell($0.b) + HTML.number($0.jaccard, key: "rank.overlap.\($0.a).\($0.b)") +
                    HTML.number(Double($0.shared), digits: 0)
            }
            s += "<h3>Overlap of the metrics' selections (multi-skill)</h3>" +
                HTML.table(["metric a", "metric b", "Jaccard", "shared neurons"], rows, id: "overlaps")
        }
        if let c = r.contrast {
            s += "<h3>Neurons that track \(HTML.escape(c.a)) more than \(HTML.escape(c.b))</h3>"
            s += "<p>\(c.onlyA) neurons are significant (q &lt; 0.05) for \(HTML.escape(c.a)) and not for "
                + "\(HTML.escape(c.b)); \(c.onlyB) the other way round. "
                + "The largest margins |score \(HTML.escape(c.a))| − |score \(HTML.escape(c.b))| "
                + "at the same position:</p>"
            let rows = c.neurons.prefix(20).map { n in
                HTML.cell("L\(n.layer).\(n.neuron)") + HTML.cell(n.position)
                    + HTML.number(n.scoreA, key: "rank.contrast.L\(n.layer).\(n.neuron).a") + HTML.number(n.qA)
                    + HTML.number(n.scoreB, key: "rank.contrast.L\(n.layer).\(n.neuron).b") + HTML.number(n.qB)
                    + HTML.number(abs(n.scoreA) - abs(n.scoreB))
            }
            s += HTML.table(["neuron", "position", "score \(c.a)", "q", "score \(c.b)", "q", "margin"], rows,
                            id: "contrast")
        }
        return s
    }

    /// A count stored as a double (k of an amplification), as written; an archive may hold any double there.
    static func whole(_ v: Double) -> String { v.isFinite && abs(v) < 1e15 ? String(Int(v)) : "\(v)" }

    static func ablate(_ a: RunEvidence.Ablate) -> String {
        var s = "<h2>Causal validation</h2>"
        // A continuation task's score is its mean BLEU, in BLEU points.
        let score = a.score == "bleu" ? "BLEU" : "accuracy"
        let baseline = String(format: a.score == "bleu" ? "%.2f" : "%.2f%%", a.baselineAccuracy * 100)
        s += """
            <p class=\"note\">Unablated test \(score) \(baseline) on \
            \(a.testExamples) examples. Every point is beside \(a.randomSets) random neuron sets with the same \
            number of neurons in every layer, none of them selected. The curve is the skill set's \(score) drop; \
            the band spans the random sets' drops (lowest to highest), the dashed line is their mean. \
            \(HTML.escape(a.tests ?? ""))</p>
            """
        if let h = a.headline {
            let point = h.mode == "amplify" ? "amplify ×\(h.x)" : "\(h.mode), top \(whole(h.x))"
            s += """
                <p id="ablate-headline">Headline point: \(HTML.escape(point)) \
                (\(h.declared ? "declared in the recipe" : "the sweep's largest gap")); \
                p = \(String(format: "%.4f", h.p)), \(HTML.escape(h.test)): \
                <strong>\(h.significant ? "significant" : "not significant")</strong>.</p>
                """
        }
        s += "<div class=\"charts\">"
        for c in a.curves {
            let base = a.baselineAccuracy
            let what = c.axis == "k" ? "neurons intervened on (k)" : "strength (×)"
            let title = c.mode == "amplify" ? "Amplification of the top \(whole(c.fixed)): \(score) drop"
                : "\(c.mode.capitalized) ablation: \(score) drop"
            var chart = SVGChart(title: title, xLabel: what, yLabel: "\(score) drop (points)", id: "dose-\(c.mode)")
            chart.logX = c.axis == "k" && (c.x.min() ?? 0) > 0 && (c.x.max() ?? 0) / max(c.x.min() ?? 1, 1e-9) >= 8
            let points = { (v: [Double]) in v.map { (base - $0) * 100 } }
            chart.bands.append(.init(label: "random sets (min–max)", x: c.x, low: points(c.randomHigh),
                                     high: points(c.randomLow), color: randomColor))
            chart.lines.append(.init(label: "random mean", x: c.x, y: points(c.randomMean), color: randomColor,
                                     dashed: true, markers: false))
            chart.lines.append(.init(label: "skill neurons", x: c.x, y: points(c.accuracy), color: skillColor))
            chart.rules.append(.init(label: "no change", y: 0, color: baselineColor))
            s += chart.render()
        }
        s += "</div>"
        for c in a.curves {
            let rows = c.x.indices.map { i -> String in
                let key = "ablate.\(c.mode).\(i)"
                return HTML.number(c.x[i], digits: c.x[i] == c.x[i].rounded() ? 0 : 2, key: "\(key).x")
                    + HTML.number(c.accuracy[i], digits: 4, key: "\(key).accuracy")
                    + HTML.number(c.randomMean[i], digits: 4, key: "\(key).random_mean")
                    + HTML.interval(c.randomLow[i], c.randomHigh[i], digits: 4)
                    + HTML.number(c.z[i], digits: 2, key: "\(key).z")
                    + HTML.number(c.empiricalP[i], digits: 3, key: "\(key).empirical_p")
                    + HTML.number(c.parametricP[i], digits: 4, key: "\(key).parametric_p")
                    + HTML.number(c.pairedP[i], digits: 4, key: "\(key).paired_p")
                    + HTML.interval(c.ciLow[i], c.ciHigh[i], digits: 4)
                    + HTML.number(c.klTask[i], digits: 4, key: "\(key).kl_task")
                    + HTML.number(c.klGeneral[i], digits: 4, key: "\(key).kl_general")
            }
            s += "<h3>\(HTML.escape(c.mode)) " +
                "(\(c.axis == "k" ? "over k" : "over strength, k = \(whole(c.fixed))"))</h3>"
            s += HTML.table([c.axis, "accuracy", "random mean", "random range", "z", "empirical p", "t p", "paired p",
                             "Δ accuracy vs random, 95% CI", "KL task", "KL general"], rows, id: "ablate-\(c.mode)")
        }
        return s
    }

    static func edit(_ e: RunEvidence.Edit) -> String {
        var s = "<h2>Sparse edit</h2>"
        let rows = [HTML.cell("objective") + HTML.cell(e.objective),
                    HTML.cell("neurons") + HTML.number(Double(e.neurons), digits: 0, key: "edit.neurons"),
                    HTML.cell("selection") + HTML.cell(e.selection ?? "top"),
                    HTML.cell("trainable weights") +
                        HTML.number(Double(e.trainableWeights), digits: 0, key: "edit.trainable_weights"),
                    HTML.cell("learning rate") + HTML.number(e.learningRate, digits: 4),
                    HTML.cell("KL weight") + HTML.number(e.klWeight, digits: 3),
                    HTML.cell("write mode") + HTML.cell(e.writeMode),
                    HTML.cell("edited checkpoint") + HTML.cell(e.checkpoint),
                    HTML.cell("final loss") + HTML.number(e.loss.last, digits: 4, key: "edit.final_loss")]
        s += HTML.table(["", ""], rows, id: "edit")
        let steps = e.loss.indices.map { Double($0 + 1) }
        var chart = SVGChart(title: "Edit training curve", xLabel: "step", yLabel: "loss", id: "edit-loss")
        chart.lines.append(.init(label: "objective + penalty", x: steps, y: e.loss, color: "#1f77b4",
                                 markers: e.loss.count <= 30))
        if e.klPenalty.contains(where: { $0 != 0 }) {
            chart.lines.append(.init(label: "KL penalty", x: steps, y: e.klPenalty, color: "#ff7f0e", markers: false))
        }
        return s + chart.render()
    }

    static func audit(_ a: RunEvidence.Audit) -> String {
        var rows: [String] = []
        if a.accuracyBefore != nil || a.accuracyAfter != nil {
            rows.append(HTML.cell("task accuracy (\(a.taskExamples) test examples)")
                        + HTML.number(a.accuracyBefore, digits: 4, key: "audit.accuracy_before")
                        + HTML.interval(a.accuracyIntervalBefore?.first, a.accuracyIntervalBefore?.last, digits: 4)
                        + HTML.number(a.accuracyAfter, digits: 4, key: "audit.accuracy_after")
                        + HTML.interval(a.accuracyIntervalAfter?.first, a.accuracyIntervalAfter?.last, digits: 4))
            if let d = a.differenceInterval {
                rows.append(HTML.cell("difference, paired 95% CI") + "<td></td><td></td><td></td>" +
                            HTML.interval(d.first, d.last, digits: 4))
            }
        }
        rows.append(HTML.cell("general-text perplexity")
                    + HTML.number(a.perplexityBefore, digits: 2, key: "audit.wikitext_perplexity_before") + "<td></td>"
                    + HTML.number(a.perplexityAfter, digits: 2, key: "audit.wikitext_perplexity_after") + "<td></td>")
        rows.append(HTML.cell("KL(base ‖ edited), nats/token") + "<td></td><td></td>" +
                    HTML.number(a.klGeneral, digits: 5, key: "audit.kl_general") + "<td></td>")
        if a.biasBefore != nil {
            rows.append(HTML.cell("bias score (0.5 is unbiased)")
                        + HTML.number(a.biasBefore, digits: 4, key: "audit.bias_score_before")
                        + HTML.interval(a.biasIntervalBefore?.first, a.biasIntervalBefore?.last, digits: 4)
                        + HTML.number(a.biasAfter, digits: 4, key: "audit.bias_score_after")
                        + HTML.interval(a.biasIntervalAfter?.first, a.biasIntervalAfter?.last, digits: 4))
        }
        var s = "<h2>Audit: edited against base</h2>" +
            HTML.table(["", "base", "95% CI", "edited", "95% CI"], rows, id: "audit")
        s += "<p class=\"note\">\(a.unchangedTensors) tensors byte-identical; " +
            "<b data-key=\"audit.changed_weights_outside_mask\" data-value=\"\(a.changedOutsideMask)\">" +
            "\(a.changedOutsideMask)</b> weights changed outside the mask.</p>"
        let tensorRows = a.changedTensors.map {
            HTML.cell($0.name) + HTML.number(Double($0.changedRows), digits: 0) +
                HTML.number(Double($0.changedColumns), digits: 0) + HTML.number($0.deltaNorm, digits: 4)
        }
        if !tensorRows.isEmpty {
            s += HTML.table(["changed tensor", "rows", "columns", "‖Δ‖"], tensorRows, id: "weight-diff")
        }
        return s
    }

    static func provenance(_ e: RunEvidence) -> String {
        var s = "<h2>Provenance</h2>"
        s += HTML.table(["field", "value"],
                        e.provenance.filter { !$0.name.hasSuffix("_started") && !$0.name.hasSuffix("_seconds") }
                            .map { HTML.cell($0.name) + HTML.cell($0.value) }, id: "provenance")
        s += "<h3>Stages</h3>" + HTML.table(["stage", "started", "seconds"], e.stages.map {
            HTML.cell($0.stage) + HTML.cell($0.started ?? "–") + HTML.number($0.seconds, digits: 1)
        }, id: "stages")
        if let recipe = e.recipeText { s += "<h3>Recipe</h3><pre>\(HTML.escape(recipe))</pre>" }
        return s
    }

    static func movingMean(_ v: [Double], window: Int) -> [Double] {
        var out: [Double] = [], sum = 0.0
        for i in v.indices {
            sum += v[i]
            if i >= window { sum -= v[i - window] }
            out.append(sum / Double(min(i + 1, window)))
        }
        return out
    }
}
