import Autodiff
import TensorCore

/// How the next token is chosen from the logits.
public enum Sampler: Sendable {
    case greedy
    /// Softmax at `temperature`, drawn with `SeededRandom`, so a seed gives the same text every time.
    case temperature(Float, seed: UInt64)
    /// Nucleus sampling: softmax at `temperature`, cut to the most likely tokens whose probabilities first
    /// sum to at least `topP` (ties by token id), renormalised and drawn as above.
    case nucleus(Float, topP: Float, seed: UInt64)

    /// The sampler of OpenAI's parameters: greedy at temperature 0, nucleus below top_p 1.
    public static func of(temperature: Float, topP: Float, seed: UInt64) -> Sampler {
        if temperature == 0 { return .greedy }
        return topP < 1 ? .nucleus(temperature, topP: topP, seed: seed) : .temperature(temperature, seed: seed)
    }
}

extension DecoderModel {
    /// Runs `tokens` (one sequence) after the positions already in `cache`, appending their keys and values.
    /// Returns the logits of the last new position. [V]
    public func step(_ tokens: [Int32], cache: KVCache, hooks: HookSet = HookSet()) throws -> [Float] {
        let batch = TokenBatch([tokens])
        let past = cache.count
        let positions = (0..<tokens.count).map { past + $0 }
        try checkPositions(past + tokens.count)
        let tables = ropeTables(positions)
        var x = hooks.apply(HookName.embeddings, addPositions(try embed(batch), positions))
        for l in 0..<config.layers {
            x = block(l, x, batch: batch, table: tables.of(l), keyMask: nil, hooks: hooks, cache: cache)
        }
        let last = gatherRows(x, [tokens.count - 1])
        let hidden = hooks.apply(HookName.finalNorm, norm(last, outputNorm))
        let logits = lmHead(hidden).value.scalars
        // A NaN or infinite logit would silently decode as token 0, or as nothing at all.
        guard logits.allSatisfy(\.isFinite) else { throw ModelError.nonFiniteLogits(position: past + tokens.count - 1) }
        return logits
    }

    /// Generates up to `maxTokens` tokens after `prompt`, calling `onToken` with each (return false to stop).
    /// Stops early at any id in `stop`. Uses a KV cache, so each new token costs one position's forward.
    @discardableResult
    public func generate(prompt: [Int32], maxTokens: Int, sampler: Sampler = .greedy, stop: Set<Int32> = [],
                         hooks: HookSet = HookSet(), onToken: (Int32) -> Bool = { _ in true }) throws -> [Int32] {
        try generate(prompt: prompt, maxTokens: maxTokens, sampler: sampler, stop: stop,
                     hooksForStep: { _, _ in hooks }, onToken: onToken)
    }

    /// As above, with hooks made for each step: `hooksForStep(rows, step)` gets the number of new positions
    /// the step runs (the prompt's length, then 1) and the step's index (0 for the prompt).
    @discardableResult
    public func generate(prompt: [Int32], maxTokens: Int, sampler: Sampler = .greedy, stop: Set<Int32> = [],
                         hooksForStep: (Int, Int) -> HookSet,
                         onToken: (Int32) -> Bool = { _ in true }) throws -> [Int32] {
        guard !prompt.isEmpty else { throw ModelError.emptyInput }
        if prompt.count + maxTokens > config.contextLength {
            throw ModelError.contextTooLong(tokens: prompt.count + maxTokens, limit: config.contextLength)
        }
        let cache = KVCache(layers: config.layers)
        var rng: SeededRandom? = nil
        switch sampler {
        case .temperature(_, let seed), .nucleus(_, _, let seed): rng = SeededRandom(seed: seed)
        case .greedy: break
        }
        var logits = try step(prompt, cache: cache, hooks: hooksForStep(prompt.count, 0))
        var generated: [Int32] = []
        for i in 0..<maxTokens {
            let next = choose(logits, sampler, &rng)
            generated.append(next)
            // The last token is not run through the model: nothing would read its logits.
            if stop.contains(next) || !onToken(next) || i == maxTokens - 1 { break }
            logits = try step([next], cache: cache, hooks: hooksForStep(1, i + 1))
        }
        return generated
    }

    private func choose(_ logits: [Float], _ sampler: Sampler, _ rng: inout SeededRandom?) -> Int32 {
        switch sampler {
        case .greedy:
            var best = 0
            for i in 1..<logits.count where logits[i] > logits[best] { best = i }
            return Int32(best)
        case .temperature(let t, _):
            if t <= 0 { return choose(logits, .greedy, &rng) }
            let maximum = logits.max()!
            let weights = logits.map { Double(expf(($0 - maximum) / t)) }
            var u = rng!.nextDouble() * weights.reduce(0, +)
            for (i, w) in weights.enumerated() {
                u -= w
                if u < 0 { return Int32(i) }
            }
            return Int32(logits.count - 1)
        case .nucleus(let t, let p, _):
            if t <= 0 { return choose(logits, .greedy, &rng) }
            let maximum = logits.max()!
            let weights = logits.map { Double(expf(($0 - maximum) / t)) }
            let total = weights.reduce(0, +)
            let order = weights.indices.sorted { weights[$0] != weights[$1] ? weights[$0] > weights[$1] : $0 < $1 }
            var kept: [Int] = [], mass = 0.0
            for i in order {
                kept.append(i)
                mass += weights[i]
                if mass >= Double(p) * total { break }
            }
            var u = rng!.nextDouble() * mass
            for i in kept {
                u -= weights[i]
                if u < 0 { return Int32(i) }
            }
            return Int32(kept.last!)
        }
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
