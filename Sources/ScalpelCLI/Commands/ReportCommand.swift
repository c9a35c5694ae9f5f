import ArgumentParser
import Foundation
import Scalpel

/// `scalpel report ARCHIVE [ARCHIVE_B] [--out FILE] [--json]`: one self-contained HTML page per run, or a
/// comparison of two runs.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "report",
        abstract: "Write a self-contained HTML report (inline SVG, no network) of a run's evidence archive, " +
            "or compare two runs.",
        discussion: """
        ARCHIVE is an evidence.h5, a run folder, or a recipe (its run's archive). With two, the page compares \
        them: the overlap of their selected neurons and the difference of each headline figure. --json prints \
        the same content as data.
        """)
    @Argument(help: "Evidence archive (evidence.h5), run folder or recipe.") var archive: String
    @Argument(help: "A second run to compare with the first.") var other: String?
    @Option(help: "Where to write the HTML (default: report.html beside the archive, or compare.html for two runs).")
    var out: String?
    @Flag(help: "Print the report's content as JSON.") var json = false

    func run() throws {
        let first = try Self.resolve(archive)
        let evidence = try EvidenceReader.read(first)
        let html: String, data: Data
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity",
                                                                      negativeInfinity: "-Infinity", nan: "NaN")
        let target: URL
        if let other {
            let comparison = RunComparison(evidence, try EvidenceReader.read(try Self.resolve(other)))
            html = comparison.html()
            data = try encoder.encode(comparison)
            target = out.map { URL(fileURLWithPath: $0) } ??
                first.deletingLastPathComponent().appendingPathComponent("compare.html")
        } else {
            html = ReportPage.html(evidence)
            data = try encoder.encode(evidence)
            target = out.map { URL(fileURLWithPath: $0) } ??
                first.deletingLastPathComponent().appendingPathComponent("report.html")
        }
        try AtomicFile.write(Data(html.utf8), to: target)
        if json {
            // The content, with the page's path added as "report".
            var object = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
            object["report"] = target.path
            Output.printJSON(object)
        } else {
            print("report: \(target.path)")
        }
    }

    /// An archive path, a run folder holding evidence.h5, or a recipe whose run folder holds it.
    static func resolve(_ path: String) throws -> URL {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ValidationError("\(path) does not exist; give an evidence archive (runs/<name>/evidence.h5), " +
                                  "a run folder or a recipe")
        }
        if isDirectory.boolValue { return URL(fileURLWithPath: path).appendingPathComponent("evidence.h5") }
        if path.hasSuffix(".yaml") || path.hasSuffix(".yml") {
            let recipe = try Recipe(contentsOf: URL(fileURLWithPath: path))
            return URL(fileURLWithPath: Experiment.resolve(recipe.output, root: ModelAliases.root()))
                .appendingPathComponent("evidence.h5")
        }
        return URL(fileURLWithPath: path)
    }
}
