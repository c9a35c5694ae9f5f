import Foundation

/// Helpers for the self-contained report pages: escaping, numeric cells that carry their exact value,
/// and the page frame with its inline style. Nothing here loads from the network.
enum HTML {
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    /// A table cell showing `value` rounded, with the exact value in `data-value` and, when given, a stable
    /// `data-key` so that a reader (or a test) can find the figure without parsing the display text.
    static func number(_ value: Double?, digits: Int = 3, key: String? = nil, percent: Bool = false) -> String {
        let keyAttribute = key.map { " data-key=\"\(escape($0))\"" } ?? ""
        guard let value, value.isFinite else { return "<td class=\"num\"\(keyAttribute)>–</td>" }
        let shown = percent ? String(format: "%.\(max(0, digits - 2))f%%", value * 100) : format(value, digits: digits)
        return "<td class=\"num\"\(keyAttribute) data-value=\"\(String(format: "%.17g", value))\">\(shown)</td>"
    }

    static func format(_ value: Double, digits: Int = 3) -> String {
        if value != 0 && abs(value) < 0.001 { return String(format: "%.2e", value) }
        return String(format: "%.\(digits)f", value)
    }

    static func interval(_ low: Double?, _ high: Double?, digits: Int = 3, percent: Bool = false) -> String {
        guard let low, let high, low.isFinite, high.isFinite else { return "<td>–</td>" }
        func show(_ v: Double) -> String { percent ? String(format: "%.1f", v * 100) : format(v, digits: digits) }
        return "<td class=\"num\" data-low=\"\(String(format: "%.17g", low))\" " +
            "data-high=\"\(String(format: "%.17g", high))\">[\(show(low)), \(show(high))]</td>"
    }

    static func table(_ header: [String], _ rows: [String], id: String? = nil) -> String {
        let idAttribute = id.map { " id=\"\(escape($0))\"" } ?? ""
        return "<table\(idAttribute)><thead><tr>" + header.map { "<th>\(escape($0))</th>" }.joined() +
            "</tr></thead><tbody>" +
            rows.map { "<tr>\($0)</tr>" }.joined() + "</tbody></table>"
    }

    static func cell(_ text: String) -> String { "<td>\(escape(text))</td>" }

    /// The data behind the page, as JSON in a non-executed script block ("</" is escaped so it cannot end it).
    static func embedded<T: Encodable>(_ value: T, id: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity",
                                                                      negativeInfinity: "-Infinity", nan: "NaN")
        let json = (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return "<script type=\"application/json\" id=\"\(id)\">" +
            "\(json.replacingOccurrences(of: "</", with: "<\\/"))</script>"
    }

    static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title))</title>
        <style>
        body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1d1d1f; \
        max-width: 1100px; margin: 24px auto; padding: 0 16px; }
        h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 36px; \
        border-bottom: 1px solid #ddd; padding-bottom: 4px; }
        h3 { font-size: 15px; margin-top: 22px; } .sub { color: #666; margin-top: 0; }
        table { border-collapse: collapse; margin: 8px 0 16px; } th, td { padding: 3px 10px; \
        border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
        th { background: #f5f5f7; font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
        td.better { color: #1a7f37; } td.worse { color: #b42318; }
        svg.chart { display: block; margin: 8px 0 18px; background: #fff; }
        svg .title { font-size: 13px; font-weight: 600; } svg .tick { font-size: 10px; fill: #555; } \
        svg .axislabel { font-size: 11px; fill: #333; }
        svg .legend { font-size: 11px; fill: #333; } svg .grid { stroke: #eee; } svg .axis { stroke: #999; } \
        svg .frame { fill: none; stroke: #bbb; }
        pre { background: #f7f7f9; padding: 10px; overflow-x: auto; font-size: 12px; } \
        .empty { color: #888; font-style: italic; }
        .charts { display: flex; flex-wrap: wrap; gap: 8px 24px; } \
        .note { color: #555; font-size: 13px; max-width: 900px; }
        </style></head><body>
        \(body)
        </body></html>
        """
    }
}
