import Foundation

/// Short names for the real checkpoints that `Scripts/fetch` brings in, accepted by every command
/// that takes a model.
public enum ModelAliases {
    public static let paths: [String: String] = [
        "smollm2": "checkpoints/SmolLM2-135M-Instruct.Q4_1.gguf",
        "minilm": "checkpoints/all-MiniLM-L6-v2",
        "gemma3": "checkpoints/gemma-3-270m-q4_k_m.gguf",
    ]
    public static let fetchNames = ["smollm2": "smollm2", "minilm": "minilm", "gemma3": "gemma3"]

    /// The folder that holds `checkpoints/`: $SCALPEL_ROOT, else the nearest ancestor of the current
    /// directory that has one, else the current directory.
    public static func root() -> URL {
        if let root = ProcessInfo.processInfo.environment["SCALPEL_ROOT"], !root.isEmpty {
            return URL(fileURLWithPath: root)
        }
        var directory = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        while true {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("checkpoints").path) {
                return directory
            }
            let parent = directory.deletingLastPathComponent()
            if parent.path == directory.path { return URL(fileURLWithPath: FileManager.default.currentDirectoryPath) }
            directory = parent
        }
    }

    /// Resolves an alias to its fetched path, or returns a path unchanged.
    /// - Throws: `ModelAliasError.notFetched` when the alias's files are not there yet.
    public static func resolve(_ model: String) throws -> String {
        guard let relative = paths[model.lowercased()] else { return model }
        let path = root().appendingPathComponent(relative).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw ModelAliasError.notFetched(alias: model, path: path)
        }
        return path
    }
}

public enum ModelAliasError: Error, Equatable, CustomStringConvertible {
    case notFetched(alias: String, path: String)

    public var description: String {
        switch self {
        case .notFetched(let alias, let path):
            return "model '\(alias)' is not fetched yet (expected at \(path)). Run: Scripts/fetch \(alias)"
        }
    }
}
