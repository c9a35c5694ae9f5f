import Testing
import Foundation
import TestSupport

/// `scalpel run` ends with the HTML report; `scalpel report` draws one run or compares two, and refuses a
/// damaged archive with a message and a non-zero exit.
@Suite struct ReportCommandTests {
    @Test func runWritesTheReportAndReportComparesRuns() throws {
        let (directory, model, _) = try tinyRunFolder()
        defer { try? FileManager.default.removeItem(at: directory) }
        func recipe(seed: Int) throws -> String {
            let path = directory.appendingPathComponent("r\(seed).yaml")
            try """
            name: tiny\(seed)
            model: \(model.path)
            seed: \(seed)
            output: \(directory.appendingPathComponent("run\(seed)").path)
            stages: [collect, rank, ablate, edit, audit]
            data: {loader: csv, path: \(directory.appendingPathComponent("data.csv").path), text: text, label: label}
            task: {template: "{text} =", verbalizers: ["a", "b"]}
            collect: {positions: [last], metrics: [label, confidence]}
            rank: {permutations: 10, top_k: 3, bootstrap: 0}
            ablate: {modes: [mean], k: ["3"], random_sets: 2, general_texts: 0}
            edit: {neurons: 3, steps: 3, learning_rate: 0.01}
            """.write(to: path, atomically: true, encoding: .utf8)
            return path.path
        }
        let run = try runScalpel(["run", try recipe(seed: 1), "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let summary = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        let page = try #require(summary?["report"] as? String)
        #expect(page.hasSuffix("run1/report.html") && (summary?["archive"] as? String)?.hasSuffix("run1/evidence.h5") == true)
        let html = try String(contentsOfFile: page, encoding: .utf8)
        #expect(html.contains("id=\"dose-mean\"") && html.contains("id=\"selection\"") && html.contains("id=\"audit\""))

        // The same recipe again, in a new process: every finished stage is reused, and the edit is the same file.
        let edited = try Data(contentsOf: directory.appendingPathComponent("run1/edit/edited.gguf"))
        let again = try runScalpel(["run", try recipe(seed: 1), "--json"])
        #expect(again.status == 0, "\(again.stderr)")
        let second = try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any]
        #expect((second?["collect"] as? [String: Any])?["reused"] as? Bool == true, "\(again.stderr)")
        #expect((second?["rank"] as? [String: Any])?["reused"] as? Bool == true, "\(again.stderr)")
        #expect(again.stderr.contains("ablate: up to date") && again.stderr.contains("edit: up to date"), "\(again.stderr)")
        #expect(try Data(contentsOf: directory.appendingPathComponent("run1/edit/edited.gguf")) == edited)

        // One run again, from its recipe, as JSON with the page's path.
        let out = directory.appendingPathComponent("again.html").path
        let one = try runScalpel(["report", try recipe(seed: 1), "--out", out, "--json"])
        #expect(one.status == 0, "\(one.stderr)")
        let content = try JSONSerialization.jsonObject(with: Data(one.stdout.utf8)) as? [String: Any]
        #expect(content?["report"] as? String == out && FileManager.default.fileExists(atPath: out))
        #expect(((content?["rank"] as? [String: Any])?["metrics"] as? [Any])?.count == 2)

        // Two seeds compared.
        // Without --json the run ends with the paper-shaped table, then the paths.
        let plain = try runScalpel(["run", try recipe(seed: 2)])
        #expect(plain.status == 0, "\(plain.stderr)")
        let table = plain.stdout.components(separatedBy: "summary:\n").last ?? ""
        for row in ["task ", "metric ", "top-10 mean |r| ", "ablation ", "edit ", "archive: ", "report: ", "edited_checkpoint: "] {
            #expect(table.contains(row), "no '\(row)' in \(table)")
        }
        // The ablation's headline names its test and whether it is significant.
        #expect(table.contains("matched random sets") && table.contains("largest standardized gap") &&
                table.contains("significant") && table.contains("WikiText perplexity"))
        let compared = try runScalpel(["report", directory.appendingPathComponent("run1").path, directory.appendingPathComponent("run2/evidence.h5").path, "--json"])
        #expect(compared.status == 0, "\(compared.stderr)")
        let comparison = try JSONSerialization.jsonObject(with: Data(compared.stdout.utf8)) as? [String: Any]
        #expect((comparison?["report"] as? String)?.hasSuffix("run1/compare.html") == true)
        let overlaps = comparison?["overlaps"] as? [[String: Any]] ?? []
        #expect(overlaps.map { $0["metric"] as? String } == ["confidence", "label"])
        let seedField = (comparison?["differences"] as? [[String: Any]] ?? []).first { $0["name"] as? String == "seed" }
        #expect(seedField?["a"] as? String == "1" && seedField?["b"] as? String == "2")

        // A damaged archive: a message naming the file, and a non-zero exit.
        let broken = directory.appendingPathComponent("broken.h5")
        try Data(try Data(contentsOf: directory.appendingPathComponent("run1/evidence.h5")).prefix(2000)).write(to: broken)
        let refused = try runScalpel(["report", broken.path])
        #expect(refused.status != 0 && refused.stderr.contains("broken.h5"))
        let missing = try runScalpel(["report", directory.appendingPathComponent("nothing.h5").path])
        #expect(missing.status != 0 && missing.stderr.contains("does not exist"))
    }
}
