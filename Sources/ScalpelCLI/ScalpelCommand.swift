import ArgumentParser
import Scalpel

struct ScalpelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scalpel",
        abstract: "Find the few FFN neurons that carry a skill, prove that they matter, and edit only them.",
        discussion: """
        Every command prints a JSON summary with --json; progress goes to stderr.
        """,
        version: ScalpelVersion.current,
        subcommands: [RunCommand.self, TunePromptCommand.self, CollectCommand.self, MergeCommand.self, RankCommand.self,
                      AblateCommand.self, EditCommand.self, AuditCommand.self, ReportCommand.self, StatusCommand.self, RecipeCommand.self,
                      InspectCommand.self, DigestCommand.self, SynthCommand.self, TokenizeCommand.self, TemplateCommand.self,
                      ForwardCommand.self, EmbedCommand.self, GenerateCommand.self, ServeCommand.self, KnobCommand.self, BenchCommand.self]
    )
}
