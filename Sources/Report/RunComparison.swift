import Foundation

/// Two runs side by side (two seeds, two models, base against edited): the overlap of their selected
/// neurons for every metric both ranked, and each headline figure in both with its difference (b − a).
public struct RunComparison: Codable, Sendable {
    public struct Figure: Codable, Sendable {
        public var name: String; public var a: Double?; public var b: Double?; public var difference: Double?
    }
    public struct Overlap: Codable, Sendable {
        public var metric: String
        public var selectedA: Int
        public var selectedB: Int
        public var shared: [[Int]]
        public var jaccard: Double?
    }
    public struct Field: Codable, Sendable { public var name: String; public var a: String; public var b: String }

    public var a: String
    public var b: String
    public var figures: [Figure]
    public var overlaps: [Overlap]
    /// The provenance fields that tell the runs apart (recipe, model, data, seeds, commit).
    public var differences: [Field]

    public init(_ x: RunEvidence, _ y: RunEvidence) {
        a = x.archive
        b = y.archive
        figures = Set(x.headline.keys).union(y.headline.keys).sorted().map { name in
            let (u, v) = (x.headline[name], y.headline[name])
            return Figure(name: name, a: u, b: v, difference: u.flatMap { u in v.map { $0 - u } })
        }
        let metricsA = Set(x.rank?.metrics.filter { $0.excluded == nil }.map(\.metric) ?? [])
        let metricsB = Set(y.rank?.metrics.filter { $0.excluded == nil }.map(\.metric) ?? [])
        overlaps = metricsA.intersection(metricsB).sorted().map { metric in
            let (s, t) = (x.selected(metric: metric), y.selected(metric: metric))
            let union = s.union(t).count
            return Overlap(metric: metric, selectedA: s.count, selectedB: t.count,
                           shared: s.intersection(t).sorted { ($0[0], $0[1]) < ($1[0], $1[1]) },
                           jaccard: union > 0 ? Double(s.intersection(t).count) / Double(union) : nil)
        }
        let watched = ["recipe_sha256", "recipe_file", "model", "model_sha256", "data_sha256", "seed", "split_seed",
                       "git_commit", "tool_version"]
        differences = watched.compactMap { name in
            let u = x.provenance.first { $0.name == name }?.value ?? "–",
                v = y.provenance.first { $0.name == name }?.value ?? "–"
            return Field(name: name, a: u, b: v)
        }
    }

    public func html() -> String {
        var body = "<h1>Scalpel: two runs compared</h1>"
        body += "<p class=\"sub\">A: \(HTML.escape(a))<br>B: \(HTML.escape(b))</p>"
        body += "<h2>What differs</h2>" + HTML.table(["field", "A", "B"], differences.map { f in
            let same = f.a == f.b
            return HTML.cell(f.name) + HTML.cell(f.a) +
                "<td\(same ? "" : " class=\"worse\"")>\(HTML.escape(same ? "same" : f.b))</td>"
        }, id: "differences")
        body += "<h2>Selected neurons</h2>"
        body += HTML.table(["metric", "selected in A", "selected in B", "shared", "Jaccard",
                            "shared neurons"], overlaps.map { o in
            HTML.cell(o.metric) + HTML.number(Double(o.selectedA), digits: 0)
                + HTML.number(Double(o.selectedB), digits: 0)
                + HTML.number(Double(o.shared.count), digits: 0, key: "overlap.\(o.metric).shared")
                + HTML.number(o.jaccard, key: "overlap.\(o.metric).jaccard")
                + HTML.cell(o.shared.prefix(30).map { "L\($0[0]).\($0[1])" }
                    .joined(separator: " ") + (o.shared.count > 30 ? " …" : ""))
        }, id: "overlaps")
        body += "<h2>Headline figures</h2>"
        body += HTML.table(["figure", "A", "B", "B − A"], figures.map { f in
            HTML.cell(f.name) + HTML.number(f.a, digits: 4, key: "a.\(f.name)")
                + HTML.number(f.b, digits: 4, key: "b.\(f.name)")
                + HTML.number(f.difference, digits: 4, key: "difference.\(f.name)")
        }, id: "figures")
        body += HTML.embedded(self, id: "scalpel-comparison")
        return HTML.page(title: "Scalpel: two runs compared", body: body)
    }
}
