import ArgumentParser
import Foundation
import Scalpel

/// Parses the command line, runs the command, and turns every error into a message that says what is
/// wrong and what to do: plain on stderr with the failing command's own usage, or, with `--json`, one
/// JSON object on stdout, `{"error": {"message", "hint"}}`. Either way the exit status is non-zero.
enum CommandLineRun {
    static func main() -> Never {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let json = arguments.contains("--json")
        var command: ParsableCommand?
        do {
            try ArgumentText.checkUTF8()
            try KernelPath.chooseFromEnvironment()
            if arguments.first == "--version" && json {
                Output.printJSON(["version": ScalpelVersion.current, "blas": BLASCore.record,
                                  "kernels": KernelPath.record])
                exit(0)
            }
            var parsed = try ScalpelCommand.parseAsRoot(arguments)
            command = parsed
            // SCALPEL_CHECK_ONLY=1: the command line parsed and validated, and nothing run (for templates).
            if ProcessInfo.processInfo.environment["SCALPEL_CHECK_ONLY"] == "1" {
                print("ok: \(name(of: type(of: parsed)))")
                exit(0)
            }
            try parsed.run()
            exit(0)
        } catch {
            fail(error, in: command.map { type(of: $0) }, json: json)
        }
    }

    static func fail(_ error: Error, in commandType: ParsableCommand.Type?, json: Bool) -> Never {
        let code = ScalpelCommand.exitCode(for: error)
        // --help, --version and an ExitCode a command chose (after printing its own output) pass through.
        if code == .success || error is ExitCode || error is CleanExit || commandType == nil && !json {
            ScalpelCommand.exit(withError: error)
        }
        let message = ScalpelCommand.message(for: error)
        let status = code == .success ? ExitCode.failure : code
        if json {
            Output.printJSON(["error": ["message": message, "hint": hint(for: error, commandType)]])
            exit(status.rawValue)
        }
        var text = "Error: \(message)\n"
        if error is ValidationError, let commandType {
            text += "Usage: \(ScalpelCommand.usageString(for: commandType))\n" +
                "  See '\(name(of: commandType)) --help' for more information.\n"
        }
        FileHandle.standardError.write(Data(text.utf8))
        exit(status.rawValue)
    }

    /// What to do about `error`, for the JSON error object (the plain message already carries it).
    static func hint(for error: Error, _ commandType: ParsableCommand.Type?) -> String {
        let help = "Run '\(commandType.map(name) ?? "scalpel") --help' for the options and their ranges."
        switch error {
        case is RecipeErrors:
            return "Fix the keys named in the message; 'scalpel recipe explain' lists every key, its type, " +
                "default and range."
        case is ValidationError: return help
        default:
            if let hinted = error as? HintedError { return hinted.hint }
            return commandType == nil ? help : "The message says what is wrong and what to change."
        }
    }

    /// "scalpel bench forward" for `ForwardBench`: the names on the path to the command.
    static func name(of commandType: ParsableCommand.Type) -> String {
        func path(_ node: ParsableCommand.Type, _ trail: [String]) -> [String]? {
            let here = trail + [node.configuration.commandName ?? "\(node)"]
            if node == commandType { return here }
            for child in node.configuration.subcommands { if let found = path(child, here) { return found } }
            return nil
        }
        return (path(ScalpelCommand.self, []) ?? ["scalpel"]).joined(separator: " ")
    }
}

/// An error that knows what the user should do about it.
protocol HintedError: Error {
    var hint: String { get }
}

/// The command line's own text must be UTF-8: arguments that are not would be decoded with U+FFFD in
/// place of their bytes and silently tokenized as something else.
enum ArgumentText {
    struct InvalidUTF8: Error, CustomStringConvertible, HintedError {
        let index: Int, argument: String, offset: Int, byte: UInt8
        var description: String {
            "argument \(index) (\(argument)) is not valid UTF-8: " +
                "byte 0x\(String(byte, radix: 16)) at byte offset \(offset)"
        }
        var hint: String { "Pass text as UTF-8 (convert it with iconv -t UTF-8), or put it in a UTF-8 file." }
    }

    static func checkUTF8() throws {
        for index in stride(from: 1, to: Int(CommandLine.argc), by: 1) {
            guard let pointer = CommandLine.unsafeArgv[index] else { continue }
            let bytes = Array(UnsafeBufferPointer(start: UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self),
                                                  count: strlen(pointer)))
            if let offset = UTF8Text.firstInvalidByte(bytes) {
                let shown = String(decoding: bytes.prefix(offset), as: UTF8.self).suffix(20)
                throw InvalidUTF8(index: index, argument: "after '\(shown)'", offset: offset, byte: bytes[offset])
            }
        }
    }
}

// What to do, for the errors users meet most; their messages say what is wrong.
extension UserFileError: HintedError {
    var hint: String {
        "Check the path: it must name a readable file (run Scripts/fetch for the shipped models and data)."
    }
}
extension InvalidUTF8Error: HintedError {
    var hint: String { "Convert the file to UTF-8, e.g. iconv -f LATIN1 -t UTF-8 FILE > FILE.utf8." }
}
extension CheckpointFormatError: HintedError {
    var hint: String {
        "Pass a .gguf file, a .safetensors file or a Hugging Face folder; fetch or copy it again if it was cut short."
    }
}
extension HuggingFaceConfigError: HintedError {
    var hint: String { "Re-export the model with save_pretrained, or restore config.json from the model's release." }
}
extension ModelError: HintedError {
    var hint: String {
        switch self {
        case .nonFiniteLogits: "Lower the intervention's strength, or check the checkpoint."
        case .unknownArchitecture:
            "Use a checkpoint of a supported family (scalpel inspect shows a file's architecture)."
        default: "Check the checkpoint: it may be incomplete, or of another variant of its architecture."
        }
    }
}
extension InterventionError: HintedError {
    var hint: String {
        "An intervention file is what `scalpel ablate` writes in the run's ablate/ folder; compare yours with one."
    }
}
