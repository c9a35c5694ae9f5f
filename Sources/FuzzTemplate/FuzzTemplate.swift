import Foundation
import FuzzSupport
import Jinja

/// Fuzz target for chat templates and the conversations given to them: the input is a template, or a
/// template and a messages JSON separated by a NUL byte. The template is parsed and rendered as `--chat`
/// and `scalpel template render` do (with a fixed conversation when the input has none), the messages
/// are parsed as `--messages` is, and every error's message is rendered.
enum TemplateTarget: FuzzTarget {
    static let conversation = #"[{"role": "system", "content": "Be brief."}, "# +
        #"{"role": "user", "content": "Hi <|im_end|>"}, "# +
        #"{"role": "assistant", "content": "Hello!", "reasoning_content": "think"}]"#

    static func exercise(_ bytes: [UInt8]) {
        let parts = bytes.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
        let source = String(decoding: parts[0], as: UTF8.self)
        let messagesText = parts.count > 1 ? String(decoding: parts[1], as: UTF8.self) : conversation
        let messages: Value
        do { messages = try JSON.parse(messagesText, isData: true) } catch {
            FuzzLog.refused(error)
            return
        }
        do {
            let template = try Template(source)
            for generation in [false, true] {
                let context = Dict([("messages", messages), ("add_generation_prompt", .bool(generation)),
                                    ("bos_token", .string("<s>")), ("eos_token", .string("</s>")),
                                    ("tools", .none), ("documents", .none)])
                let text = try template.render(context, now: Date(timeIntervalSince1970: 1_767_225_600))
                _ = text.runs
            }
        } catch {
            FuzzLog.refused(error)
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 { TemplateTarget.fuzz(data, size) }

#if !FUZZING
@main struct Replay { static func main() throws { try TemplateTarget.replay() } }
#endif
