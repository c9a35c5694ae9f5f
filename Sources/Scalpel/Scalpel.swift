// The embeddable library: `import Scalpel` brings in every public module.
@_exported import ActivationStores
@_exported import AtomicFiles
@_exported import Checkpoints
@_exported import Datasets
@_exported import Autodiff
@_exported import HDF5Kit
@_exported import Interventions
@_exported import JSON
@_exported import AuxiliaryMetrics
@_exported import Models
@_exported import Optimizers
@_exported import Pipeline
@_exported import Recipes
@_exported import Report
@_exported import Statistics
@_exported import TensorCore
@_exported import Tokenizers
@_exported import Training

/// Scalpel's version, reported by `scalpel --version` and recorded in every evidence archive.
public enum ScalpelVersion {
    public static let current = ScalpelBuild.version
}
