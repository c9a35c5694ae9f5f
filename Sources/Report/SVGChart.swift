import Foundation

/// A small inline-SVG line chart: lines, shaded bands and horizontal reference lines on linear axes
/// (or a log x axis). Enough for dose-response curves and training curves, with no script and no network.
struct SVGChart {
    struct Line {
        var label: String; var x: [Double]; var y: [Double]; var color: String; var dashed = false; var markers = true
    }
    struct Band { var label: String; var x: [Double]; var low: [Double]; var high: [Double]; var color: String }
    struct Rule { var label: String; var y: Double; var color: String }

    var title: String
    var xLabel: String
    var yLabel: String
    var logX = false
    var lines: [Line] = []
    var bands: [Band] = []
    var rules: [Rule] = []
    /// Each chart's ids are prefixed so several can share a page.
    var id: String
    let width = 530.0, height = 320.0
    let left = 60.0, right = 165.0, top = 30.0, bottom = 48.0

    func render() -> String {
        let xs = (lines.flatMap(\.x) + bands.flatMap(\.x)).filter(\.isFinite).filter { !logX || $0 > 0 }
        let ys = (lines.flatMap(\.y) + bands.flatMap(\.low) + bands.flatMap(\.high) + rules.map(\.y)).filter(\.isFinite)
        guard let x0 = xs.min(), let x1 = xs.max(), let y0 = ys.min(), let y1 = ys.max() else {
            return "<p class=\"empty\">\(HTML.escape(title)): no data</p>"
        }
        let (ylo, yhi, yticks) = Self.niceRange(y0, y1)
        let plotW = width - left - right, plotH = height - top - bottom
        let tx: (Double) -> Double
        var xticks: [Double]
        if logX {
            let a = log10(x0), b = max(log10(x1), a + 1e-9)
            tx = { self.left + (log10(max($0, 1e-12)) - a) / (b - a) * plotW }
            xticks = Array(Set(xs)).sorted()
        } else {
            let span = x1 > x0 ? x1 - x0 : 1
            tx = { self.left + ($0 - x0) / span * plotW }
            xticks = Self.niceRange(x0, x1).ticks.filter { $0 >= x0 - 1e-9 && $0 <= x1 + 1e-9 }
            if x1 == x0 { xticks = [x0] }
        }
        let ty: (Double) -> Double = { self.top + (1 - ($0 - ylo) / (yhi - ylo)) * plotH }
        var svg = """
            <svg xmlns=\"http://www.w3.org/2000/svg\" id=\"\(id)\" class=\"chart\" \
            viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\" \
            role=\"img\" aria-label=\"\(HTML.escape(title))\">
            """
        svg += "<text x=\"\(left)\" y=\"18\" class=\"title\">\(HTML.escape(title))</text>"
        // Grid and ticks.
        for t in yticks {
            svg += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotW))\" " +
                "y1=\"\(f(ty(t)))\" y2=\"\(f(ty(t)))\" class=\"grid\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(ty(t) + 4))\" " +
                "text-anchor=\"end\" class=\"tick\">\(Self.label(t))</text>"
        }
        for t in xticks {
            svg += "<line x1=\"\(f(tx(t)))\" x2=\"\(f(tx(t)))\" " +
                "y1=\"\(f(top + plotH))\" y2=\"\(f(top + plotH + 4))\" class=\"axis\"/>"
            svg += "<text x=\"\(f(tx(t)))\" y=\"\(f(top + plotH + 17))\" " +
                "text-anchor=\"middle\" class=\"tick\">\(Self.label(t))</text>"
        }
        svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" class=\"frame\"/>"
        svg += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 8))\" " +
            "text-anchor=\"middle\" class=\"axislabel\">\(HTML.escape(xLabel))</text>"
        svg += "<text transform=\"translate(14 \(f(top + plotH / 2))) rotate(-90)\" " +
            "text-anchor=\"middle\" class=\"axislabel\">\(HTML.escape(yLabel))</text>"
        var legend: [(String, String, String)] = []   // label, color, kind
        for band in bands {
            let pts = band.x.indices.filter { band.low[$0].isFinite && band.high[$0].isFinite }
            guard !pts.isEmpty else { continue }
            var d = pts.map { "\(f(tx(band.x[$0]))),\(f(ty(band.high[$0])))" }
            d += pts.reversed().map { "\(f(tx(band.x[$0]))),\(f(ty(band.low[$0])))" }
            if pts.count == 1 {   // a single point: a short bar
                let x = tx(band.x[pts[0]])
                d = ["\(f(x - 4)),\(f(ty(band.high[pts[0]])))", "\(f(x + 4)),\(f(ty(band.high[pts[0]])))",
                     "\(f(x + 4)),\(f(ty(band.low[pts[0]])))", "\(f(x - 4)),\(f(ty(band.low[pts[0]])))"]
            }
            svg += "<polygon points=\"\(d.joined(separator: " "))\" fill=\"\(band.color)\" fill-opacity=\"0.25\" " +
                "stroke=\"\(band.color)\" stroke-opacity=\"0.5\" class=\"band\" " +
                "data-series=\"\(HTML.escape(band.label))\"/>"
            legend.append((band.label, band.color, "band"))
        }
        for rule in rules where rule.y.isFinite {
            svg += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotW))\" y1=\"\(f(ty(rule.y)))\" " +
                "y2=\"\(f(ty(rule.y)))\" stroke=\"\(rule.color)\" stroke-dasharray=\"2 3\" class=\"rule\"/>"
            legend.append((rule.label, rule.color, "rule"))
        }
        for line in lines {
            let pts = line.x.indices.filter { line.y[$0].isFinite && (!logX || line.x[$0] > 0) }
            guard !pts.isEmpty else { continue }
            let path = pts.map { "\(f(tx(line.x[$0]))),\(f(ty(line.y[$0])))" }.joined(separator: " ")
            svg += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"2\"" +
                "\(line.dashed ? " stroke-dasharray=\"6 4\"" : "") class=\"line\" " +
                "data-series=\"\(HTML.escape(line.label))\"/>"
            if line.markers {
                for i in pts {
                    svg += "<circle cx=\"\(f(tx(line.x[i])))\" cy=\"\(f(ty(line.y[i])))\" r=\"3.5\" " +
                        "fill=\"\(line.color)\"><title>\(HTML.escape(line.label)): " +
                        "\(Self.label(line.x[i])) → \(String(format: "%.4g", line.y[i]))</title></circle>"
                }
            }
            legend.append((line.label, line.color, line.dashed ? "dashed" : "line"))
        }
        for (i, item) in legend.enumerated() {
            let y = top + 12 + Double(i) * 18, x = left + plotW + 12
            switch item.2 {
            case "band":
                svg += "<rect x=\"\(f(x))\" y=\"\(f(y - 8))\" width=\"18\" height=\"10\" fill=\"\(item.1)\" " +
                    "fill-opacity=\"0.3\"/>"
            case "rule":
                svg += "<line x1=\"\(f(x))\" x2=\"\(f(x + 18))\" y1=\"\(f(y - 3))\" y2=\"\(f(y - 3))\" " +
                    "stroke=\"\(item.1)\" stroke-dasharray=\"2 3\"/>"
            default:
                svg += "<line x1=\"\(f(x))\" x2=\"\(f(x + 18))\" y1=\"\(f(y - 3))\" y2=\"\(f(y - 3))\" " +
                    "stroke=\"\(item.1)\" stroke-width=\"2\"\(item.2 == "dashed" ? " stroke-dasharray=\"6 4\"" : "")/>"
            }
            svg += "<text x=\"\(f(x + 24))\" y=\"\(f(y + 1))\" class=\"legend\">\(HTML.escape(item.0))</text>"
        }
        return svg + "</svg>"
    }

    func f(_ v: Double) -> String { String(format: "%.1f", v) }

    static func label(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e6 { return String(Int(v)) }
        return String(format: "%.3g", v)
    }

    /// A range covering [a, b] with 4–6 round ticks.
    static func niceRange(_ a: Double, _ b: Double) -> (low: Double, high: Double, ticks: [Double]) {
        // An archive can hold any double: NaN, infinities, or values too far apart to subtract, for which the
        // ticks below would never end. Those are charted on [0, 1].
        guard a.isFinite, b.isFinite, max(abs(a), abs(b)) < 1e300 else { return niceRange(0, 1) }
        var lo = min(a, b), hi = max(a, b)
        // one value: a narrow band around it
        if hi - lo < 1e-12 { lo -= max(abs(lo) * 0.1, 0.05); hi += max(abs(hi) * 0.1, 0.05) }
        let raw = (hi - lo) / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        let low = floor(lo / step) * step, high = ceil(hi / step) * step
        // Far from zero a step can be below the values' resolution (1e16 + 0.4 == 1e16): count the ticks
        // instead of stepping, and chart such a range by its ends.
        let count = ((high - low) / step).rounded()
        guard count.isFinite, count <= 20, low + step != low else { return (lo, hi, [lo, hi]) }
        let ticks = (0...Int(count)).map { ((low + Double($0) * step) / step).rounded() * step }
        return (low, high, ticks)
    }
}

/// A layer × neuron map of scores as an SVG grid of cells, darker for larger values.
struct SVGHeatmap {
    var title: String
    var rowLabels: [String]
    var cells: [[Double]]
    var columnNote: String
    var id: String

    func render() -> String {
        let columns = cells.map(\.count).max() ?? 0
        guard columns > 0 else { return "<p class=\"empty\">\(HTML.escape(title)): no data</p>" }
        let cell = 9.0, rowH = 11.0, left = 44.0, top = 28.0
        let maximum = max(cells.flatMap { $0 }.max() ?? 1, 1e-12)
        let gridH = Double(cells.count) * rowH
        let width = max(360, left + Double(columns) * cell + 80), height = top + max(gridH, 72) + 30
        var svg = """
            <svg xmlns=\"http://www.w3.org/2000/svg\" id=\"\(id)\" class=\"chart\" \
            viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\" \
            role=\"img\" aria-label=\"\(HTML.escape(title))\">
            """
        svg += "<text x=\"\(left)\" y=\"18\" class=\"title\">\(HTML.escape(title))</text>"
        for (r, row) in cells.enumerated() {
            let y = top + Double(r) * rowH
            svg += "<text x=\"\(left - 4)\" y=\"\(String(format: "%.1f", y + 9))\" " +
                "text-anchor=\"end\" class=\"tick\">\(HTML.escape(rowLabels[r]))</text>"
            for (c, v) in row.enumerated() {
                svg += "<rect x=\"\(String(format: "%.1f", left + Double(c) * cell))\" " +
                    "y=\"\(String(format: "%.1f", y))\" width=\"\(cell - 1)\" height=\"\(rowH - 1)\" " +
                    "fill=\"\(Self.color(v / maximum))\"><title>\(HTML.escape(rowLabels[r])), block \(c): " +
                    "\(String(format: "%.3f", v))</title></rect>"
            }
        }
        let legendX = left + Double(columns) * cell + 12
        for i in 0..<5 {
            let v = Double(4 - i) / 4
            svg += "<rect x=\"\(String(format: "%.1f", legendX))\" " +
                "y=\"\(String(format: "%.1f", top + Double(i) * 14))\" width=\"12\" height=\"12\" " +
                "fill=\"\(Self.color(v))\"/>"
            svg += "<text x=\"\(String(format: "%.1f", legendX + 16))\" " +
                "y=\"\(String(format: "%.1f", top + Double(i) * 14 + 10))\" class=\"tick\">" +
                "\(String(format: "%.2f", v * maximum))</text>"
        }
        svg += "<text x=\"\(left)\" y=\"\(String(format: "%.1f", height - 10))\" class=\"axislabel\">" +
            "\(HTML.escape(columnNote))</text>"
        return svg + "</svg>"
    }

    /// From pale yellow (0) through orange to dark purple (1).
    static func color(_ t: Double) -> String {
        let stops: [(Double, Double, Double)] = [(255, 250, 220), (253, 174, 97), (215, 48, 39), (84, 39, 143)]
        let x = min(1, max(0, t.isFinite ? t : 0)) * Double(stops.count - 1)
        let i = min(Int(x), stops.count - 2), u = x - Double(i)
        let (a, b) = (stops[i], stops[i + 1])
        return String(format: "rgb(%d,%d,%d)", Int(a.0 + (b.0 - a.0) * u), Int(a.1 + (b.1 - a.1) * u),
                      Int(a.2 + (b.2 - a.2) * u))
    }
}

/// One box per layer: quartiles, median and whiskers at the minimum and maximum.
struct SVGBoxPlot {
    var title: String
    var yLabel: String
    var boxes: [(label: String, minimum: Double, q1: Double, median: Double, q3: Double, maximum: Double)]
    var id: String

    func render() -> String {
        guard !boxes.isEmpty else { return "<p class=\"empty\">\(HTML.escape(title)): no data</p>" }
        let left = 56.0, top = 30.0, bottom = 44.0, plotH = 220.0
        let step = max(14.0, min(30.0, 560.0 / Double(boxes.count)))
        let width = max(380, left + Double(boxes.count) * step + 20), height = top + plotH + bottom
        let (lo, hi, ticks) = SVGChart.niceRange(0, boxes.map(\.maximum).max() ?? 1)
        let ty: (Double) -> Double = { top + (1 - ($0 - lo) / (hi - lo)) * plotH }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var svg = """
            <svg xmlns=\"http://www.w3.org/2000/svg\" id=\"\(id)\" class=\"chart\" \
            viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\" \
            role=\"img\" aria-label=\"\(HTML.escape(title))\">
            """
        svg += "<text x=\"\(left)\" y=\"18\" class=\"title\">\(HTML.escape(title))</text>"
        for t in ticks {
            svg += "<line x1=\"\(f(left))\" x2=\"\(f(width - 20))\" " +
                "y1=\"\(f(ty(t)))\" y2=\"\(f(ty(t)))\" class=\"grid\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(ty(t) + 4))\" " +
                "text-anchor=\"end\" class=\"tick\">\(SVGChart.label(t))</text>"
        }
        for (i, b) in boxes.enumerated() {
            let cx = left + (Double(i) + 0.5) * step, w = step * 0.6
            svg += "<g><title>\(HTML.escape(b.label)): median \(String(format: "%.3f", b.median)), " +
                "max \(String(format: "%.3f", b.maximum))</title>"
            svg += "<line x1=\"\(f(cx))\" x2=\"\(f(cx))\" " +
                "y1=\"\(f(ty(b.maximum)))\" y2=\"\(f(ty(b.minimum)))\" stroke=\"#555\"/>"
            svg += "<rect x=\"\(f(cx - w / 2))\" y=\"\(f(ty(b.q3)))\" width=\"\(f(w))\" " +
                "height=\"\(f(max(1, ty(b.q1) - ty(b.q3))))\" fill=\"#9ecae1\" stroke=\"#3182bd\"/>"
            svg += "<line x1=\"\(f(cx - w / 2))\" x2=\"\(f(cx + w / 2))\" " +
                "y1=\"\(f(ty(b.median)))\" y2=\"\(f(ty(b.median)))\" stroke=\"#08306b\" stroke-width=\"2\"/>"
            svg += "<circle cx=\"\(f(cx))\" cy=\"\(f(ty(b.maximum)))\" r=\"2.5\" fill=\"#c0392b\"/></g>"
            if boxes.count <= 40 || i % 2 == 0 {
                svg += "<text x=\"\(f(cx))\" y=\"\(f(top + plotH + 16))\" " +
                    "text-anchor=\"middle\" class=\"tick\">\(HTML.escape(b.label))</text>"
            }
        }
        svg += "<text x=\"\(f(left + (width - left - 20) / 2))\" y=\"\(f(height - 8))\" " +
            "text-anchor=\"middle\" class=\"axislabel\">layer</text>"
        svg += "<text transform=\"translate(14 \(f(top + plotH / 2))) rotate(-90)\" " +
            "text-anchor=\"middle\" class=\"axislabel\">\(HTML.escape(yLabel))</text>"
        return svg + "</svg>"
    }
}
