import Foundation
import HDF5Kit
import Interventions
import Statistics

// ----------------------------------------------------------------------------------------------------
// The sweep's headline: one point, and one test quoted for it.
//
//   declared (ablate.headline)   that point;  p = its empirical p against its R random sets
//   not declared                 the ablation point whose gap is largest in standard deviations of its
//                                pool (amplification only when the sweep has nothing else); p = the
//                                sweep p: that largest standardized |gap| against each random draw's own
//                                largest over the same candidate points (RandomSetComparison)
//   gap = skill drop − mean random drop   (drop = unablated accuracy − accuracy)
//   significant = p ≤ 0.05 and the bootstrap interval of accuracy(skill) − mean accuracy(random) excludes 0
//
// Choosing the best point after the run and quoting its own p would overstate it; the sweep p pays for
// the choice (RandomSetComparison.sweepP).
// ----------------------------------------------------------------------------------------------------

extension AblateStage {
    static let significanceLevel = 0.05

    static func chooseHeadline(_ curves: [Curve], base: Double,
                         declared: (mode: Intervention.Mode, x: Double)?) -> Headline? {
        let all = curves.flatMap { curve in curve.points.map { (mode: curve.mode, point: $0) } }
        if let declared {
            guard let chosen = all.first(where: { $0.mode == declared.mode && $0.point.x == declared.x })
            else { return nil }
            let sets = chosen.point.randomAccuracy.count
            return Headline(mode: chosen.mode, x: chosen.point.x, declared: true, p: chosen.point.empiricalP,
                            test: "empirical p of the declared point against its \(sets) random sets",
                            significant: significant(chosen.point.empiricalP, chosen.point))
        }
        let ablations = all.filter { $0.mode != .amplify }
        let candidates = (ablations.isEmpty ? all : ablations).map { (mode: $0.mode, point: $0.point,
                                                                      drops: drops($0.point, base: base)) }
        guard let best = candidates.max(by: {
            RandomSetComparison.standardizedGap($0.drops.chosen, $0.drops.random) <
                RandomSetComparison.standardizedGap($1.drops.chosen, $1.drops.random)
        }) else { return nil }
        let p = RandomSetComparison.sweepP(candidates.map(\.drops))
        return Headline(mode: best.mode, x: best.point.x, declared: false, p: p,
                        test: "the sweep's largest standardized gap against each of " +
                        "\(best.point.randomAccuracy.count) random draws' largest over the same " +
                        "\(candidates.count) points",
                        significant: significant(p, best.point))
    }

    /// A point's accuracy drops from the unablated accuracy: the skill set's and each random set's.
    static func drops(_ p: Point, base: Double) -> (chosen: Double, random: [Double]) {
        (base - p.accuracy, p.randomAccuracy.map { base - $0 })
    }

    static func significant(_ p: Double, _ point: Point) -> Bool {
        guard p <= significanceLevel, let ci = point.differenceInterval else { return false }
        return ci.low > 0 || ci.high < 0
    }

    /// `/ablate` attributes `headline_mode`, `headline_x`, `headline_declared` (0/1), `headline_p`,
    /// `headline_test`, `headline_significant` (0/1).
    static func write(_ headline: Headline?, into group: HDF5Group) throws {
        guard let h = headline else { return }
        try group.setAttribute("headline_mode", .string(h.mode.rawValue))
        try group.setAttribute("headline_x", .double(h.x))
        try group.setAttribute("headline_declared", .int(h.declared ? 1 : 0))
        try group.setAttribute("headline_p", .double(h.p))
        try group.setAttribute("headline_test", .string(h.test))
        try group.setAttribute("headline_significant", .int(h.significant ? 1 : 0))
    }

    static func readHeadline(_ group: HDF5Group) throws -> Headline? {
        guard try group.attributeNames().contains("headline_mode"),
              case .string(let name) = try group.attribute("headline_mode"),
              let mode = Intervention.Mode(rawValue: name),
              case .double(let x) = try group.attribute("headline_x"),
              case .int(let declared) = try group.attribute("headline_declared"),
              case .double(let p) = try group.attribute("headline_p"),
              case .string(let test) = try group.attribute("headline_test"),
              case .int(let significant) = try group.attribute("headline_significant") else { return nil }
        return Headline(mode: mode, x: x, declared: declared != 0, p: p, test: test, significant: significant != 0)
    }
}

extension AblateStage.Headline {
    /// The headline in one sentence, e.g. "zero-ablating the top 200: 76.50% → 63.50% against 76.50% for
    /// 19 matched random sets; difference -13.0 points [-20.0, -6.2]; p 0.050 (…): significant".
    public func sentence(in result: AblateStage.Result) -> String {
        guard let curve = result.curves.first(where: { $0.mode == mode }),
              let point = curve.points.first(where: { $0.x == x }) else { return "" }
        let what = mode == .amplify ?
            "amplifying the top \(Int(curve.fixed)) ×\(format(x, 2))" :
            "\(mode.rawValue)-ablating the top \(Int(x))"
        let random = point.randomAccuracy.reduce(0, +) / Double(max(1, point.randomAccuracy.count))
        let bleu = result.score == "bleu"
        func figure(_ x: Double) -> String { bleu ? format(100 * x, 2) : percent(x) }
        var text = "\(what): \(bleu ? "BLEU " : "")\(figure(result.baselineAccuracy)) → \(figure(point.accuracy)) " +
            "against \(figure(random)) for \(point.randomAccuracy.count) matched random sets"
        if let ci = point.differenceInterval {
            text += "; difference \(format(100 * (point.accuracy - random), 1)) points " +
                "[\(format(100 * ci.low, 1)), \(format(100 * ci.high, 1))]"
        }
        text += "; p \(format(p, 3)) (\(test)): " + (significant ? "significant" : "not significant")
        if !significant, let ci = point.differenceInterval, ci.low <= 0, ci.high >= 0 {
            text += " (the interval contains 0)"
        }
        return text
    }

    private func percent(_ x: Double) -> String { format(100 * x, 2) + "%" }
    private func format(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
}
