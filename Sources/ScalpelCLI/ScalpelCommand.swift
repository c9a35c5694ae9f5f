import ArgumentParser
import Scalpel

@main
struct ScalpelCommand: ParsableCommand {
    static func main() {
        Allocator.keepLargeBlocksOnTheHeap()
        Self.main(nil)
    }

    static let configuration = CommandConfiguration(
        commandName: "scalpel",
        abstract: "Find the few FFN neurons that carry a skill, prove that they matter, and edit only them.",
        discussion: """
        Every command prints a JSON summary with --json; progress goes to stderr.
        """,
        version: ScalpelVersion.current,
        subcommands: [InspectCommand.self, TokenizeCommand.self, ForwardCommand.self, EmbedCommand.self, GenerateCommand.self, BenchCommand.self]
    )
}
