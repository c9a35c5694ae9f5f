// swift-tools-version:6.0
// Scalpel: find, prove and edit the FFN neurons that carry a skill.
//
// Dependency direction (each target imports only what it lists):
//   CBLAS, CHDF5          system libraries (pkg-config openblas, hdf5)
//   AtomicFiles           Foundation                 never-half-written files
//   CPUFeatures           (C)                        cpuid: the processor's instruction sets, read at run time
//   CBlockKernels         CPUFeatures (C)            ggml block formats: the one dequantizer, row products read from blocks
//   TensorCore            CBLAS, CBlockKernels       Float32 tensors, RNG, forward/backward kernel pairs, BLAS kernel choice
//   Autodiff              TensorCore                 reverse-mode tape, ops, sparse gradient masks
//   Optimizers            Autodiff                   AdamW and SGD with state only for masked-in slices
//   HDF5Kit               CHDF5, AtomicFiles         thin HDF5 layer (files, groups, datasets, attributes, row/column blocks)
//   Statistics            CBLAS, TensorCore          streaming co-moments, ranks, MI, predictivity, permutation tests, BH, bootstrap, selection, BLEU
//   ActivationStores      HDF5Kit, Statistics        the activation store: every collected FFN value, the metrics, the co-moments
//   JSON                  (none)                     a strict JSON parser (RFC 8259) and string literals
//   Checkpoints           AtomicFiles, CBlockKernels GGUF and safetensors: read, write, (de)quantize; knows no models
//   Jinja                 Foundation                 a Jinja interpreter with Jinja2's semantics, for chat templates
//   Tokenizers            Checkpoints, JSON, Jinja   BPE, SentencePiece, WordPiece, chat templates (vocabularies from metadata)
//   Models                Autodiff, Checkpoints, Tokenizers   Llama and BERT forward/backward, hook points, generation
//   Interventions         JSON, Models, TensorCore   changes to FFN neurons during a forward pass (ablate, generate)
//   Datasets              JSON, TensorCore (RNG)     dataset readers, splits
//   AuxiliaryMetrics      Datasets                   the auxiliary metrics of `collect` and their expression language
//   Recipes               Yams, AtomicFiles          the declarative recipe format and its validation
//   Training              Models, Optimizers, Datasets   soft-prompt tuning, classification framing, evaluation
//   Pipeline              Training, Interventions, Recipes, ActivationStores, AuxiliaryMetrics, …   the stages of `scalpel run`, run folders, the evidence archive
//   Report                Pipeline, HDF5Kit          evidence archives read back, HTML reports with inline SVG, run comparison
//   OpenAIRequests        JSON                       OpenAI's request bodies read and checked field by field (fuzzed alone)
//   Serving               Interventions, Models, OpenAIRequests, Hummingbird, Prometheus   `scalpel serve`: the API, knobs, metrics
//   Scalpel               all of the above           the embeddable library (re-exports)
//   ScalpelCLI            Scalpel, Serving, ArgumentParser    the `scalpel` executable
//   TestSupport           TensorCore, Autodiff       gradient checker and assertions, for tests only
//   FuzzSupport, Fuzz*    the reader each one fuzzes  libFuzzer targets (Scripts/fuzz); replayers when built normally
import PackageDescription

let package = Package(
    name: "Scalpel",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Scalpel", targets: ["Scalpel"]),
        .executable(name: "scalpel", targets: ["ScalpelCLI"]),
        .executable(name: "fuzz-checkpoints", targets: ["FuzzCheckpoints"]),
        .executable(name: "fuzz-config", targets: ["FuzzConfig"]),
        .executable(name: "fuzz-tokenizer", targets: ["FuzzTokenizer"]),
        .executable(name: "fuzz-recipe", targets: ["FuzzRecipe"]),
        .executable(name: "fuzz-archive", targets: ["FuzzArchive"]),
        .executable(name: "fuzz-intervention", targets: ["FuzzIntervention"]),
        .executable(name: "fuzz-template", targets: ["FuzzTemplate"]),
        .executable(name: "fuzz-request", targets: ["FuzzRequest"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),

        .target(name: "AtomicFiles"),
        // cpuid at run time (C: Swift has no inline assembly); the runtime-dispatched SIMD kernels' home.
        .target(name: "CPUFeatures"),
        .target(name: "CBlockKernels", dependencies: ["CPUFeatures"]),
        .target(name: "TensorCore", dependencies: ["CBLAS", "CPUFeatures", "CBlockKernels"]),
        .target(name: "Autodiff", dependencies: ["TensorCore"]),
        .target(name: "Optimizers", dependencies: ["TensorCore", "Autodiff"]),
        .target(name: "HDF5Kit", dependencies: ["CHDF5", "AtomicFiles"]),
        .target(name: "Statistics", dependencies: ["CBLAS", "TensorCore"]),
        .target(name: "ActivationStores", dependencies: ["HDF5Kit", "Statistics"]),
        .target(name: "JSON"),
        .target(name: "Checkpoints", dependencies: ["AtomicFiles", "CBlockKernels", "JSON"]),
        .target(name: "Jinja"),
        .target(name: "Tokenizers", dependencies: ["Checkpoints", "JSON", "Jinja"]),
        .target(name: "Models", dependencies: ["TensorCore", "AtomicFiles", "Autodiff", "Checkpoints", "JSON", "Tokenizers"]),
        .target(name: "Interventions", dependencies: ["JSON", "Models", "TensorCore"]),
        .target(name: "Datasets", dependencies: ["AtomicFiles", "JSON", "TensorCore"]),
        .target(name: "AuxiliaryMetrics", dependencies: ["Datasets"]),
        .target(name: "Recipes", dependencies: ["AtomicFiles", .product(name: "Yams", package: "Yams")]),
        .target(name: "Training", dependencies: ["Autodiff", "TensorCore", "Tokenizers", "Models", "Optimizers", "Datasets"]),
        .target(name: "Pipeline", dependencies: ["Autodiff", "Optimizers", "TensorCore", "Training", "Recipes", "Datasets", "Models", "Checkpoints", "Interventions", "Tokenizers", "AtomicFiles", "HDF5Kit", "Statistics", "ActivationStores", "AuxiliaryMetrics"]),
        .target(name: "Report", dependencies: ["Pipeline", "HDF5Kit", "AtomicFiles"]),
        .target(name: "OpenAIRequests", dependencies: ["JSON"]),
        .target(name: "Serving", dependencies: ["Interventions", "Models", "TensorCore", "Tokenizers", "JSON", "OpenAIRequests",
                                                .product(name: "Hummingbird", package: "hummingbird"),
                                                .product(name: "Prometheus", package: "swift-prometheus"),
                                                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                                                .product(name: "UnixSignals", package: "swift-service-lifecycle")]),
        .target(name: "Scalpel", dependencies: ["Report", "AtomicFiles", "TensorCore", "Autodiff", "Optimizers", "HDF5Kit", "Checkpoints", "JSON", "Tokenizers", "Models", "Interventions", "Datasets", "Recipes", "Training", "Pipeline", "Statistics", "ActivationStores", "AuxiliaryMetrics"]),
        .executableTarget(
            name: "ScalpelCLI",
            dependencies: ["Scalpel", "Serving", "Jinja", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Fuzz targets, one per input kind, sharing FuzzSupport's skeleton; see Scripts/fuzz and docs/fuzzing.md.
        // Built normally each is a replayer (`fuzz-NAME FILE|DIR...`) for reproducing a crash.
        .target(name: "FuzzSupport"),
        .executableTarget(name: "FuzzCheckpoints", dependencies: ["FuzzSupport", "Checkpoints", "Models", "Tokenizers"]),
        .executableTarget(name: "FuzzConfig", dependencies: ["FuzzSupport", "Checkpoints", "JSON", "Models", "TensorCore"]),
        .executableTarget(name: "FuzzTokenizer", dependencies: ["FuzzSupport", "Tokenizers"]),
        .executableTarget(name: "FuzzRecipe", dependencies: ["FuzzSupport", "Recipes"]),
        .executableTarget(name: "FuzzArchive", dependencies: ["FuzzSupport", "CHDF5", "HDF5Kit", "Pipeline", "Report",
                                                              "Statistics", "ActivationStores"]),
        .executableTarget(name: "FuzzIntervention", dependencies: ["FuzzSupport", "Interventions"]),
        .executableTarget(name: "FuzzTemplate", dependencies: ["FuzzSupport", "Jinja"]),
        .executableTarget(name: "FuzzRequest", dependencies: ["FuzzSupport", "OpenAIRequests"]),
        .target(name: "TestSupport", dependencies: ["TensorCore", "Autodiff", "Checkpoints", "Models", "Tokenizers"]),

        .testTarget(name: "AtomicFilesTests", dependencies: ["AtomicFiles"]),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "Autodiff", "TestSupport"]),
        .testTarget(name: "AutodiffTests", dependencies: ["TensorCore", "CBlockKernels", "Autodiff", "Optimizers", "TestSupport"]),
        .testTarget(name: "OptimizersTests", dependencies: ["Autodiff", "TensorCore", "Optimizers", "TestSupport"]),
        .testTarget(name: "HDF5KitTests", dependencies: ["AtomicFiles", "HDF5Kit"]),
        .testTarget(name: "StatisticsTests", dependencies: ["Statistics", "TensorCore"]),
        .testTarget(name: "AuxiliaryMetricsTests", dependencies: ["AuxiliaryMetrics"]),
        .testTarget(name: "CheckpointsTests", dependencies: ["TensorCore", "Checkpoints", "CBlockKernels", "CPUFeatures", "JSON", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "JinjaTests", dependencies: ["Jinja", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "TokenizersTests", dependencies: ["Checkpoints", "JSON", "Tokenizers", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "PipelineTests", dependencies: ["AtomicFiles", "Autodiff", "Interventions", "Models", "Statistics", "TensorCore", "Pipeline", "Report", "HDF5Kit", "Recipes", "Datasets", "TestSupport", "Tokenizers", "Checkpoints", "ActivationStores", "Training"]),
        .testTarget(name: "TrainingTests", dependencies: ["Autodiff", "Models", "TensorCore", "Training", "Recipes", "TestSupport", "Tokenizers", "Pipeline", "Datasets"]),
        .testTarget(name: "ModelsTests", dependencies: ["Autodiff", "Checkpoints", "TensorCore", "AtomicFiles", "JSON", "Models", "Optimizers", "TestSupport", "Tokenizers"], exclude: ["Fixtures"]),
        .testTarget(name: "LibraryTests", dependencies: ["Scalpel", "TestSupport"]),
        .testTarget(name: "ScalpelCLITests", dependencies: ["Models", "Tokenizers", "ScalpelCLI", "TensorCore", "AtomicFiles", "Pipeline", "ActivationStores", "Checkpoints", "HDF5Kit", "TestSupport", .product(name: "Yams", package: "Yams")]),
    ]
)
