import ArgumentParser
import Foundation
import Jinja
import Scalpel

/// `scalpel template render`: a chat template rendered exactly as transformers renders it.
struct TemplateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "template",
        abstract: "Work with chat templates.",
        subcommands: [TemplateRenderCommand.self]
    )
}

struct TemplateRenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Render a chat template for a conversation, byte for byte as transformers does.",
        discussion: """
        Prints exactly the rendering, with nothing added (not even a final newline). The template sees \
        messages, add_generation_prompt, bos_token, eos_token, and tools and documents as none. A template \
        that raises exits non-zero with its message; one that uses a construct Scalpel does not implement \
        fails with the construct and its line. --model takes the template and the BOS/EOS text from a checkpoint.
        """
    )

    @Option(help: "The Jinja template file.") var template: String?
    @Option(help: "Take the template, BOS and EOS from this checkpoint (path or alias) instead.") var model: String?
    @Option(help: "A JSON file (- for standard input): an array of {\"role\", \"content\"} objects.")
    var messages: String
    @Flag(help: "Open the assistant's turn at the end.") var addGenerationPrompt = false
    @Option(help: "The text bos_token holds (default: the model's, else empty).") var bosToken: String?
    @Option(help: "The text eos_token holds (default: the model's, else empty).") var eosToken: String?
    @Option(help: "The day strftime_now sees, YYYY-MM-DD (default: today).") var date: String?
    @Flag(help: "Print JSON: {rendered, parts: [{text, special}]}.") var json = false

    func validate() throws {
        guard (template == nil) != (model == nil) else {
            throw ValidationError("give exactly one of --template and --model")
        }
        if let date, TemplateRenderCommand.day(date) == nil {
            throw ValidationError("--date \(date) is not a date written YYYY-MM-DD")
        }
    }

    static func day(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone.current
        formatter.dateFormat = "yyyy-MM-dd"
        guard let date = formatter.date(from: text), formatter.string(from: date) == text else { return nil }
        return date
    }

    func run() throws {
        var chat = try loadTemplate()
        if let bosToken { chat.bosToken = bosToken }
        if let eosToken { chat.eosToken = eosToken }
        let conversation = try TemplateRenderCommand.readMessages(messages)
        let parts = try chat.renderParts(messages: conversation, addGenerationPrompt: addGenerationPrompt,
                                         date: date.flatMap(TemplateRenderCommand.day) ?? Date())
        let rendered = parts.map(\.text).joined()
        if json {
            Output.printJSON(["rendered": rendered,
                              "parts": parts.map { ["text": $0.text, "special": $0.parsesSpecial] as [String: Any] }])
        } else {
            FileHandle.standardOutput.write(Data(rendered.utf8))
        }
    }

    private func loadTemplate() throws -> ChatTemplate {
        if let model {
            return try TokenizerLoader.load(checkpoint: try ModelAliases.resolve(model)).chat.get()
        }
        let path = template!
        guard let data = TemplateRenderCommand.contents(of: path) else {
            throw ValidationError("cannot read the template \(path); give the path of a .jinja file")
        }
        guard let source = String(data: data, encoding: .utf8) else {
            throw ValidationError("the template \(path) is not UTF-8 text")
        }
        return try ChatTemplate(source: source)
    }

    /// A file's bytes; "-" is standard input, and pipes such as /dev/fd/N work too.
    static func contents(of path: String) -> Data? {
        guard let handle = path == "-" ? FileHandle.standardInput : FileHandle(forReadingAtPath: path) else {
            return nil
        }
        return PipeReading.readAll(handle)
    }

    /// The conversation: a JSON array of objects, each with a string role. Every string is data.
    static func readMessages(_ path: String) throws -> Jinja.Value {
        guard let data = contents(of: path) else {
            throw ValidationError("cannot read the messages \(path); " +
                                  "give a JSON file holding [{\"role\": …, \"content\": …}]")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ValidationError("the messages \(path) are not UTF-8")
        }
        let value: Jinja.Value
        do { value = try JSON.parse(text, isData: true) } catch {
            throw ValidationError("the messages \(path) are not JSON: \(error)")
        }
        guard case .list(let items) = value else {
            throw ValidationError("the messages \(path) must be a JSON array of {\"role\", \"content\"} objects")
        }
        for (index, item) in items.enumerated() {
            guard case .dict(let message) = item, case .string? = message["role"] else {
                throw ValidationError("message \(index) in \(path) is not an object with a string \"role\"")
            }
        }
        return value
    }
}
