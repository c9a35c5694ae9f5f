import ArgumentParser
import Scalpel

extension Precision {
    /// The precision an option names, or an error that lists the precisions there are, or says why this
    /// machine cannot run the one named (bf16 without the avx512bf16 kernels).
    static func named(_ name: String, option: String = "--precision") throws -> Precision {
        guard let precision = Precision(rawValue: name) else {
            throw ValidationError("\(option) \(name) is not one of " +
                                  Precision.allCases.map(\.rawValue).joined(separator: ", "))
        }
        if let why = precision.unavailable { throw ValidationError("\(option) \(name): \(why)") }
        return precision
    }

    /// fp32 first, as the reference, then the other precisions a comma-separated option names.
    static func againstFloat32(_ list: String, option: String = "--precisions") throws -> [Precision] {
        let named = try list.split(separator: ",").map { try Precision.named(String($0), option: option) }
        return [.fp32] + named.filter { $0 != .fp32 }
    }
}
