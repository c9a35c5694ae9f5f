import Foundation
import FuzzSupport
import OpenAIRequests

/// Fuzz target for the request bodies `scalpel serve` reads from the network: `CompletionRequest.parse`
/// as the chat route and as the completion route, under tight and loose limits, then the error's
/// OpenAI-shaped body for a refusal. A body must be refused with an APIError or parsed, never crash.
enum RequestTarget: FuzzTarget {
    static func exercise(_ bytes: [UInt8]) {
        for chat in [true, false] {
            for limits in [CompletionRequest.Limits(maxTokens: 8, maxPromptCharacters: 64), CompletionRequest.Limits()] {
                do {
                    let request = try CompletionRequest.parse(bytes, chat: chat, limits: limits)
                    precondition(request.maxTokens >= 1 && request.maxTokens <= limits.maxTokens, "max_tokens out of range")
                    precondition(request.topP > 0 && request.topP <= 1 && request.stop.count <= 4, "limits not kept")
                    precondition(request.isChat == chat, "the route's input kind")
                } catch {
                    precondition(error.status >= 400 && error.status < 500, "a refusal is a client error")
                    _ = error.body
                    FuzzLog.refused(error)
                }
            }
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 { RequestTarget.fuzz(data, size) }

#if !FUZZING
@main struct Replay { static func main() throws { try RequestTarget.replay() } }
#endif
