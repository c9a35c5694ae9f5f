@_exported import TensorCore
@_exported import Autodiff
