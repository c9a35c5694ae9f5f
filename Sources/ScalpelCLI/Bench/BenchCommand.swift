import ArgumentParser

/// `scalpel bench …`: performance figures, always next to a baseline measured in the same run.
/// Build with `-c release` before trusting any number.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure performance against a baseline run in the same process (use a release build).",
        subcommands: [MatMulBench.self, TokenizerBench.self, ForwardBench.self, PromptStepBench.self, CollectBench.self,
                      EditStepBench.self, KernelBench.self, DecodeBench.self, PrecisionBench.self]
    )
}
