import Foundation

/// Paths to the fetched real assets and to the reference outputs in ../shared/golden, for tests.
/// Tests that need them are disabled with a printed reason when they are absent.
public enum Fixtures {
    /// The repository root (this file is Sources/TestSupport/Fixtures.swift).
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// `shared/golden`, beside the repository (or $SCALPEL_GOLDEN).
    public static var goldenRoot: URL {
        if let path = ProcessInfo.processInfo.environment["SCALPEL_GOLDEN"] { return URL(fileURLWithPath: path) }
        return root.deletingLastPathComponent().appendingPathComponent("shared/golden")
    }

    public static let checkpointPaths = [
        "smollm2": "checkpoints/SmolLM2-135M-Instruct.Q4_1.gguf",
        "minilm": "checkpoints/all-MiniLM-L6-v2/model.safetensors",
        "gemma3": "checkpoints/gemma-3-270m-q4_k_m.gguf",
    ]

    public static func checkpoint(_ alias: String) -> String {
        root.appendingPathComponent(checkpointPaths[alias]!).path
    }
    public static func has(_ alias: String) -> Bool { FileManager.default.fileExists(atPath: checkpoint(alias)) }
    public static func missingReason(_ alias: String) -> Comment {
        "\(alias) is not fetched: run Scripts/fetch \(alias)"
    }

    public static func dataFile(_ relative: String) -> String {
        root.appendingPathComponent("data").appendingPathComponent(relative).path
    }
    public static func hasData(_ relative: String) -> Bool {
        FileManager.default.fileExists(atPath: dataFile(relative))
    }

    /// Whether a recipe's `data.path` (relative to the repository, or absolute) is fetched. A glob pattern
    /// (BIG-bench's task files) counts as fetched when the folder before its first wildcard is there.
    public static func isFetched(recipeDataPath path: String) -> Bool {
        let full = path.hasPrefix("/") ? path : root.appendingPathComponent(path).path
        let fixed = full.firstIndex(where: { "*?[{".contains($0) }).map { String(full[..<$0]) } ?? full
        return FileManager.default.fileExists(atPath: fixed)
    }

    public static func hasGolden(_ model: String) -> Bool {
        FileManager.default.fileExists(
            atPath: goldenRoot.appendingPathComponent(model).appendingPathComponent("manifest.json").path)
    }

    /// A golden float32 array (raw little-endian, no header).
    public static func goldenFloats(_ model: String, _ file: String) throws -> [Float] {
        let data = try Data(contentsOf: goldenRoot.appendingPathComponent(model).appendingPathComponent(file))
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map {
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)))
            }
        }
    }

    public static func goldenInts(_ model: String, _ file: String) throws -> [Int32] {
        let data = try Data(contentsOf: goldenRoot.appendingPathComponent(model).appendingPathComponent(file))
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map {
                Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))
            }
        }
    }

    /// The manifest's JSON.
    public static func goldenManifest(_ model: String) throws -> [String: Any] {
        let data = try Data(
            contentsOf: goldenRoot.appendingPathComponent(model).appendingPathComponent("manifest.json"))
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }

    public static func scratchDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("scalpel-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

import Testing
