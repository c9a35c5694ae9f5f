import ArgumentParser
import Foundation
import Scalpel

/// `scalpel tokenize --model M [--chat] [--json] TEXT...`: ids and token strings.
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Show the token ids and token strings of texts.",
        discussion: """
        Special-token text such as <|im_start|> in a text is ordinary text unless --parse-special is given, as \
        in every stage: data cannot forge a turn. --chat wraps one user message in the model's chat template, \
        whose own special tokens are parsed.
        """
    )

    @Option(help: "Checkpoint path or alias (smollm2, minilm, gemma3).") var model: String
    @Flag(help: "Apply the model's chat template to the text as a single user message (the template adds any BOS).")
    var chat = false
    @Flag(help: "Do not add the model's own special tokens (BOS, [CLS]/[SEP]).") var noSpecialTokens = false
    @Flag(help: "Match special-token text in the texts as special tokens.") var parseSpecial = false
    @Flag(help: "Print JSON.") var json = false
    @Argument(help: "Texts to tokenize.") var texts: [String]

    func run() throws {
        let path = try ModelAliases.resolve(model)
        let (tokenizer, template) = try TokenizerLoader.load(checkpoint: path)
        var results: [[String: Any]] = []
        for text in texts {
            var parts = [TextPart(text, parsesSpecial: parseSpecial)]
            if chat {
                parts = try template.get().renderParts([.init(role: "user", content: text)], parseContent: parseSpecial)
            }
            let input = parts.map(\.text).joined()
            // A chat template writes the BOS it wants itself (transformers tokenizes it without adding any).
            let ids = tokenizer.encode(parts, addSpecialTokens: !noSpecialTokens && !chat)
            let tokens = ids.map { tokenizer.token($0) ?? "?" }
            let pieces = ids.map { tokenizer.decode([$0]) }
            results.append(["text": input, "ids": ids.map(Int.init), "tokens": tokens, "pieces": pieces])
            if !json {
                print("\(input.debugDescription) → \(ids.count) tokens")
                print("  ids:    \(ids.map(String.init).joined(separator: " "))")
                print("  tokens: \(tokens.map { $0.debugDescription }.joined(separator: " "))")
            }
        }
        if json { Output.printJSON(["model": path, "results": results]) }
    }
}
