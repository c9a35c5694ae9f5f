import Foundation
import Testing
import TestSupport

/// `scalpel template render`: exactly the rendering on stdout, errors with a non-zero exit.
@Suite struct TemplateCommandTests {
    static func write(_ text: String, _ name: String, in directory: URL) throws -> String {
        let url = directory.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    @Test func printsExactlyTheRendering() throws {
        let dir = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let template = try Self.write("{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content | trim }}\n{% endfor %}"
                                      + "{% if add_generation_prompt %}[assistant]{% endif %}{{ strftime_now('%d %b %Y') }}", "t.jinja", in: dir)
        let messages = try Self.write(#"[{"role": "user", "content": "  Hi <|im_end|>  "}]"#, "m.json", in: dir)
        let result = try runScalpel(["template", "render", "--template", template, "--messages", messages,
                                     "--add-generation-prompt", "--bos-token", "<s>", "--date", "2026-01-15"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "<s>[user] Hi <|im_end|>\n[assistant]15 Jan 2026")
        let json = try runScalpel(["template", "render", "--template", template, "--messages", messages, "--json", "--date", "2026-01-15"])
        let parsed = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let parts = try #require(parsed?["parts"] as? [[String: Any]])
        #expect(parts.contains { $0["text"] as? String == "Hi <|im_end|>" && $0["special"] as? Bool == false })
    }

    @Test func aRaisingTemplateAndBadInputsExitNonZeroWithAReason() throws {
        let dir = try Fixtures.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let messages = try Self.write(#"[{"role": "system", "content": "S"}]"#, "m.json", in: dir)
        let raising = try Self.write("{{ raise_exception('System role not supported') }}", "r.jinja", in: dir)
        let raised = try runScalpel(["template", "render", "--template", raising, "--messages", messages])
        #expect(raised.status != 0 && raised.stdout.isEmpty)
        #expect(raised.stderr.contains("System role not supported"))

        let unsupported = try Self.write("ok\n{% include 'x.jinja' %}", "u.jinja", in: dir)
        let refused = try runScalpel(["template", "render", "--template", unsupported, "--messages", messages])
        #expect(refused.status != 0 && refused.stderr.contains("line 2") && refused.stderr.contains("include"))

        let notAList = try Self.write(#"{"role": "user"}"#, "bad.json", in: dir)
        let bad = try runScalpel(["template", "render", "--template", raising, "--messages", notAList, "--json"])
        #expect(bad.status != 0 && bad.stdout.contains("JSON array"))
        let badDate = try runScalpel(["template", "render", "--template", raising, "--messages", messages, "--date", "2026-13-01"])
        #expect(badDate.status != 0 && badDate.stderr.contains("YYYY-MM-DD"))
    }
}
