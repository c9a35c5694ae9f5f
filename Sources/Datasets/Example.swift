/// One row of a dataset, as the pipeline sees it.
public struct Example: Sendable, Equatable {
    /// Where it came from: the file and its 1-based row (or line) number, for error messages.
    public var source: String
    public var row: Int
    /// The text the model reads (for pair datasets, the first sentence).
    public var text: String
    /// The class index, if the dataset has labels.
    public var label: Int?
    /// The second sentence of a pair (CrowS-Pairs, StereoSet, WinoBias): the less stereotypical one.
    public var pair: String?
    /// Every original column, for metrics declared in the recipe (numeric columns, answers, categories).
    public var fields: [String: String]

    public init(source: String, row: Int, text: String, label: Int? = nil, pair: String? = nil,
                fields: [String: String] = [:]) {
        self.source = source
        self.row = row
        self.text = text
        self.label = label
        self.pair = pair
        self.fields = fields
    }
}

/// Why a dataset could not be read, naming the file and the row.
public enum DatasetError: Error, Equatable, CustomStringConvertible {
    case cannotRead(path: String, reason: String)
    case malformed(path: String, row: Int, detail: String)
    case missingField(path: String, row: Int, field: String)
    case unknownLabel(path: String, row: Int, value: String, known: [String])
    case unknownColumn(path: String, column: String, columns: [String])
    case empty(path: String)

    public var description: String {
        switch self {
        case .cannotRead(let path, let reason):
            return "cannot read \(path): \(reason). Check the path, or run Scripts/fetch."
        case .malformed(let path, let row, let detail): return "\(path), row \(row): \(detail)."
        case .missingField(let path, let row, let field):
            return "\(path), row \(row): field '\(field)' is missing or empty. " +
                "Fix the row, or set data.skip_incomplete: true in the recipe to skip such rows."
        case .unknownLabel(let path, let row, let value, let known):
            return "\(path), row \(row): label '\(value)' is not one of \(known.joined(separator: ", ")). " +
                "List it under data.labels in the recipe."
        case .unknownColumn(let path, let column, let columns):
            return "\(path) has no column '\(column)'; its columns are \(columns.joined(separator: ", "))."
        case .empty(let path): return "\(path) has no examples."
        }
    }
}
