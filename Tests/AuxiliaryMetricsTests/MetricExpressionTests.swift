import Testing
import AuxiliaryMetrics

/// The metric expression parser and the `collect.metrics` entries, apart from any model.
@Suite struct MetricExpressionTests {
    @Test func parsesAndEvaluatesWithPrecedence() throws {
        let values: [String: Double] = ["answer": 19, "n0": 12, "n1": 7, "label": 1]
        func eval(_ text: String) throws -> Double? { try MetricExpression.parse(text).evaluate { values[$0] } }
        #expect(try eval("answer == n0 + n1") == 1)
        #expect(try eval("n0 - n1 * 2 == -2 || 0") == 1)
        #expect(try eval("(n0 - n1) * 2") == 10)
        #expect(try eval("abs(n1 - n0) >= 5 && !(label < 1)") == 1)
        #expect(try eval("max(n0, n1, 30) % 7") == 2)
        #expect(try eval("missing + 1") == nil)
        #expect(throws: MetricExpressionError.self) { try MetricExpression.parse("n0 +") }
        #expect(throws: MetricExpressionError.self) { try MetricExpression.parse("sqrt(n0)") }
        #expect(throws: MetricExpressionError.self) { try MetricExpression.parse("n0 ) 1") }
    }

    @Test func metricEntriesParse() throws {
        #expect(try Metric.parse("label") == .label)
        #expect(try Metric.parse("column:answer") == .column("answer"))
        guard case .expression(let name, let formula) = try Metric.parse("shortcut = answer == n0 + n1") else { Issue.record("not an expression"); return }
        #expect(name == "shortcut" && formula.names == ["answer", "n0", "n1"])
        #expect(throws: MetricExpressionError.self) { try Metric.parse("accuracy") }
        #expect(throws: MetricExpressionError.self) { try Metric.parse("2x = n0") }
        #expect(numbersInText("What is 12 + -7? It is 5.5, not x-3.") == [12, -7, 5.5, 3])
    }
}
