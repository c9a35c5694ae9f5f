import Foundation
import FuzzSupport
import Tokenizers

/// Fuzz target for a Hugging Face `tokenizer.json`: `TokenizerLoader.load(tokenizerJSON:)` as `ModelLoader`
/// calls it for a safetensors checkpoint, then the tokenizer is used the way the pipeline uses one: encode
/// a short text (with its special tokens, accents, CJK and the file's own vocabulary in it), decode the ids
/// back with and without special tokens, decode ids that are out of range, and look tokens up both ways.
enum TokenizerTarget: FuzzTarget {
    static let sample = "Hello, World! Don't   stop\tnow — naïve café 日本語 [CLS] a##b [MASK]\u{0}\u{301}x"

    static func exercise(_ bytes: [UInt8]) {
        let url = ScratchFile.write(bytes, name: "tokenizer.json")
        let tokenizer: any Tokenizer
        do { tokenizer = try TokenizerLoader.load(tokenizerJSON: url) } catch {
            FuzzLog.refused(error)
            return
        }
        let vocabulary = (0..<Int32(min(tokenizer.vocabularySize, 12))).compactMap(tokenizer.token)
        let specials = tokenizer.specialTokenIDs.sorted().prefix(4).compactMap(tokenizer.token)
        let text = sample + " " + vocabulary.joined(separator: " ") + specials.joined() + vocabulary.joined()
        for addSpecial in [false, true] {
            let ids = tokenizer.encode(text, addSpecialTokens: addSpecial)
            _ = tokenizer.decode(ids, skipSpecialTokens: false)
            _ = tokenizer.decode(ids, skipSpecialTokens: true)
        }
        let edges: [Int32] = [-1, 0, Int32(clamping: tokenizer.vocabularySize), Int32.max, Int32.min]
        _ = tokenizer.decode(edges, skipSpecialTokens: false)
        for token in vocabulary + specials { _ = tokenizer.id(of: token) }
        _ = (tokenizer.leadingBOS, tokenizer.endOfSequence)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 { TokenizerTarget.fuzz(data, size) }

#if !FUZZING
@main struct Replay { static func main() throws { try TokenizerTarget.replay() } }
#endif
