import Foundation
@preconcurrency import Yams

/// Limits a recipe must respect before and after the YAML parser sees it.
///
/// Yams builds its tree recursively, so a document of thousands of nested `[` overflows the stack, and
/// aliases share nodes, so a "billion laughs" document expands exponentially when walked. Real recipes
/// nest three levels deep and use no aliases; the limits below are far from both.
enum YAMLLimits {
    /// Deepest nesting (block indentation, `- ` items and flow brackets together) a recipe may have.
    static let maxDepth = 64
    /// Nodes a recipe may expand to, aliases followed.
    static let maxNodes = 100_000
    /// Bytes a recipe may have (the shipped ones have 2–3 KiB).
    static let maxBytes = 64 << 10
    /// The parser's stack: enough for the deepest tree `maxBytes` can spell (one `[` a level), so that
    /// what the scanner below misses is still refused, by the measured depth, rather than crashing.
    static let parserStack = 512 << 20

    /// The deepest nesting of `text` and the line where it occurs, scanned without parsing.
    ///
    /// An estimate, for a message that names the line: block levels are counted from indentation and
    /// leading `- `, flow levels from brackets outside quotes and comments. It can miss nesting that
    /// YAML's rarer constructs spell; `composed` measures the parsed tree, which misses nothing.
    static func deepestNesting(_ text: String) -> (depth: Int, line: Int) {
        var scanner = NestingScanner()
        var deepest = (depth: 0, line: 1)
        // Bytes, not Characters: "\r\n" is one Character, and a CRLF file would be one line.
        for (index, line) in text.utf8.split(separator: UInt8(ascii: "\n"),
                                             omittingEmptySubsequences: false).enumerated() {
            let depth = scanner.scan(Array(line))
            if depth > deepest.depth { deepest = (depth, index + 1) }
        }
        return deepest
    }

    /// Parses `text` on a thread with a stack large enough for any document of `maxBytes` (Yams builds
    /// its tree recursively), and measures the tree there: a tree too deep is dropped on that thread
    /// too, since releasing it recurses as deeply as building it.
    static func composed(_ text: String) throws -> Node? {
        final class Outcome: @unchecked Sendable { var result: Result<Node?, Error> = .success(nil) }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            outcome.result = Result {
                guard let node = try Yams.compose(yaml: text) else { return nil }
                let depth = treeDepth(node)
                if depth > maxDepth {
                    throw RecipeIssue(path: "", line: nil,
                                      message: "the YAML nests \(depth) levels deep; a recipe may nest at "
                                      + "most \(maxDepth) (the shipped ones nest 3): flatten it")
                }
                return node
            }
            done.signal()
        }
        thread.stackSize = parserStack
        thread.start()
        done.wait()
        return try outcome.result.get()
    }

    /// The depth of `node`'s tree, measured without recursion (aliases count where they stand).
    static func treeDepth(_ node: Node) -> Int {
        var deepest = 0
        var stack = [(node, 1)]
        var visited = 0
        while let (next, depth) = stack.popLast(), visited <= maxNodes {
            visited += 1
            deepest = max(deepest, depth)
            switch next {
            case .mapping(let mapping):
                for (key, value) in mapping { stack.append((key, depth + 1)); stack.append((value, depth + 1)) }
            case .sequence(let sequence): stack += sequence.map { ($0, depth + 1) }
            default: break
            }
        }
        return deepest
    }

    /// The number of nodes of `node` with aliases expanded, counting no further than `budget`.
    static func expandedCount(_ node: Node, budget: Int = maxNodes + 1) -> Int {
        var count = 0
        var stack = [node]
        while let next = stack.popLast(), count < budget {
            count += 1
            switch next {
            case .mapping(let mapping):
                for (key, value) in mapping { stack.append(key); stack.append(value) }
            case .sequence(let sequence): stack.append(contentsOf: sequence)
            default: break
            }
        }
        return count
    }
}

/// Line-by-line state of the nesting estimate: the indentation stack of block collections, the depth
/// of flow brackets, an open quoted scalar, and a block scalar (`|`, `>`) whose lines are plain text.
struct NestingScanner {
    private var indents: [Int] = []
    private var flow = 0
    private var quote: UInt8?
    private var blockScalarIndent: Int?

    private static let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t"), dash = UInt8(ascii: "-")
    private static let hash = UInt8(ascii: "#"), colon = UInt8(ascii: ":"), comma = UInt8(ascii: ",")
    private static let openers: Set<UInt8> = [UInt8(ascii: "["), UInt8(ascii: "{")]
    private static let closers: Set<UInt8> = [UInt8(ascii: "]"), UInt8(ascii: "}")]
    private static let quotes: Set<UInt8> = [UInt8(ascii: "'"), UInt8(ascii: "\"")]

    /// Scans one line; returns the deepest nesting reached on it.
    mutating func scan(_ line: [UInt8]) -> Int {
        let indent = line.prefix { $0 == Self.space }.count
        let blank = line.allSatisfy { $0 == Self.space || $0 == Self.tab || $0 == UInt8(ascii: "\r") }
        if let scalarIndent = blockScalarIndent {
            if blank || indent > scalarIndent { return indents.count }
            blockScalarIndent = nil
        }
        if blank { return indents.count + flow }
        var i = indent
        if flow == 0 && quote == nil {
            while let last = indents.last, last >= indent { indents.removeLast() }
            indents.append(indent)
            // `- - - x` opens one sequence per dash on a single line.
            while i + 1 < line.count && line[i] == Self.dash && (line[i + 1] == Self.space || line[i + 1] == Self.tab) {
                indents.append(i + 2)
                i += 2
                while i < line.count && line[i] == Self.space { i += 1 }
            }
        }
        var deepest = indents.count + flow
        var previous: UInt8 = Self.space
        var lastSignificant: UInt8 = Self.space
        while i < line.count {
            let c = line[i]
            if let open = quote {
                if c == open {
                    // '' inside a single-quoted scalar is an escaped quote.
                    if open == UInt8(ascii: "'") && i + 1 < line.count && line[i + 1] == open { i += 2; continue }
                    quote = nil
                } else if c == UInt8(ascii: "\\") && open == UInt8(ascii: "\"") {
                    i += 1
                }
            } else if c == Self.hash && (previous == Self.space || previous == Self.tab) {
                break
            } else if Self.quotes.contains(c) && Self.startsValue(lastSignificant, flow: flow) {
                quote = c
            } else if Self.openers.contains(c) && (flow > 0 || Self.mayStartFlow(previous)) {
                flow += 1
                deepest = max(deepest, indents.count + flow)
            } else if Self.closers.contains(c) && flow > 0 {
                flow -= 1
            }
            if c != Self.space && c != Self.tab { lastSignificant = c }
            previous = c
            i += 1
        }
        if flow == 0 && quote == nil && Self.endsWithBlockScalarIndicator(line) { blockScalarIndent = indent }
        return deepest
    }

    /// Whether a quote after `character` opens a quoted scalar (at a value's start) rather than being text.
    private static func startsValue(_ character: UInt8, flow: Int) -> Bool {
        [space, colon, dash, UInt8(ascii: "?")].contains(character)
            || (flow > 0 && (openers.contains(character) || character == comma))
    }

    private static func mayStartFlow(_ previous: UInt8) -> Bool {
        [space, tab, colon, dash, comma].contains(previous) || openers.contains(previous)
    }

    /// `key: |`, `key: >-`, `- |2`: the lines that follow are a block scalar's text.
    private static func endsWithBlockScalarIndicator(_ line: [UInt8]) -> Bool {
        var end = line.count
        while end > 0 && (line[end - 1] == space || line[end - 1] == UInt8(ascii: "\r")) { end -= 1 }
        var start = end
        while start > 0 && [UInt8(ascii: "-"), UInt8(ascii: "+")].contains(line[start - 1])
            || start > 0 && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(line[start - 1]) { start -= 1 }
        guard start > 0, [UInt8(ascii: "|"), UInt8(ascii: ">")].contains(line[start - 1]) else { return false }
        return start == 1 || line[start - 2] == space
    }
}
