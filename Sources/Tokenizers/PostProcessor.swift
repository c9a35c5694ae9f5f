import JSON

/// tokenizer.json's `post_processor`: what a tokenizer adds around a single sequence when asked for its
/// special tokens. ByteLevel adds nothing, TemplateProcessing `[BOS] $A [EOS]` (either part optional), a
/// Sequence the union of its steps; anything else is refused by name.
enum PostProcessor {
    /// The special tokens TemplateProcessing puts around a single sequence: at most one before `$A` (BOS)
    /// and one after it (EOS). No post-processor adds nothing; any other is refused.
    static func framing(_ value: JSONValue, ids: (String) -> Int32?,
                        _ refuse: (String, JSONValue?) -> TokenizerError) throws
        -> (leading: Int32?, trailing: Int32?) {
        switch value["type"] {
        case nil where value == .null, .string("ByteLevel")?:
            return (nil, nil)  // ByteLevel's post-processing only trims offsets
        case .string("Sequence")?:
            guard case .array(let steps)? = value["processors"] else { throw refuse("post_processor", value) }
            var framing: (leading: Int32?, trailing: Int32?) = (nil, nil)
            for step in steps {
                let found = try self.framing(step, ids: ids, refuse)
                guard found.leading == nil || framing.leading == nil,
                        found.trailing == nil || framing.trailing == nil else {
                    throw refuse("post_processor Sequence with two templates", value)
                }
                framing = (found.leading ?? framing.leading, found.trailing ?? framing.trailing)
            }
            return framing
        default: break
        }
        guard value["type"] == .string("TemplateProcessing"), case .array(let single)? = value["single"] else {
            throw refuse("post_processor", value)
        }
        var leading: [Int32] = [], trailing: [Int32] = [], sequences = 0
        for item in single {
            if case .string(let name)? = item["SpecialToken"]?["id"] {
                // The template's special_tokens map names the ids; else the token of that name.
                var found: [Int32] = []
                if case .array(let listed)? = value["special_tokens"]?[name]?["ids"] {
                    for id in listed {
                        if case .integer(let raw) = id, let id = Int32(exactly: raw) { found.append(id) }
                    }
                } else if let id = ids(name) { found = [id] }
                guard !found.isEmpty else { throw TokenizerError.unknownToken(name) }
                if sequences == 0 { leading += found } else { trailing += found }
            } else if item["Sequence"]?["id"] == .string("A") {
                sequences += 1
            } else { throw refuse("post_processor TemplateProcessing item", item) }
        }
        guard sequences == 1, leading.count <= 1, trailing.count <= 1 else {
            throw refuse("post_processor TemplateProcessing other than [BOS] $A [EOS]", value["single"])
        }
        return (leading.first, trailing.first)
    }
}
