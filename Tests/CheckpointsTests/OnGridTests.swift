import Testing
import Checkpoints
import TensorCore
import TestSupport

/// Rounding one element onto its block's grid, for every type Scalpel reads: the element takes the
/// nearest value its block can hold, and every other element of the block keeps its value.
@Suite struct OnGridTests {
    static let types: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .f16, .bf16, .f32]

    static func values(_ type: GGMLType, _ bytes: [UInt8]) throws -> [Float] {
        try bytes.withUnsafeBytes { try dequantize(type, $0, count: bytes.count / type.blockBytes * type.blockSize) }
    }

    @Test(arguments: types)
    func anElementTakesTheNearestValueOfItsGridAndNothingElseMoves(type: GGMLType) throws {
        let n = type.blockSize
        var rng = SeededRandom(seed: UInt64(type.rawValue))
        for blockSeed in 0..<4 {
            let base = try randomQuantizedBlocks(type, elements: n, seed: UInt64(100 + blockSeed))
            let before = try Self.values(type, base)
            for e in Array(Set((0..<12).map { _ in rng.nextInt(below: n) } + [0, n - 1])) {
                // The values the element can take: those rounding reaches over a fine sweep of targets.
                var reachable = Set<UInt32>()
                for step in -400...400 {
                    var block = base
                    block.withUnsafeMutableBytes { _ = roundOntoGrid(type, block: $0.baseAddress!, element: e, target: Float(step) * 0.0005) }
                    reachable.insert(try Self.values(type, block)[e].bitPattern)
                }
                for target in [before[e], Float(rng.nextGaussian()) * 0.05, 10, -10] {
                    var block = base
                    block.withUnsafeMutableBytes { _ = roundOntoGrid(type, block: $0.baseAddress!, element: e, target: target) }
                    let after = try Self.values(type, block)
                    let got = after[e]
                    for (i, (a, b)) in zip(after, before).enumerated() where i != e {
                        #expect(a.bitPattern == b.bitPattern, "\(type.name): element \(i) moved when \(e) was set")
                    }
                    if target == before[e] { #expect(got == target, "\(type.name): a value of the grid is kept") }
                    let best = reachable.map { abs(Float(bitPattern: $0) - target) }.min()!
                    #expect(abs(got - target) <= best, "\(type.name) element \(e): \(got) for \(target), but a value \(best) away exists")
                }
            }
        }
    }

    @Test func typesWithoutValuesAreRefused() {
        var block = [UInt8](repeating: 0, count: 292)
        #expect(!block.withUnsafeMutableBytes { roundOntoGrid(.q8_K, block: $0.baseAddress!, element: 0, target: 1) })
    }
}
