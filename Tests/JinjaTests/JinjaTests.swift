import Foundation
import Testing
import Jinja
import TestSupport

/// A template and what the reference made of it: the rendering, or the exception's class.
struct RenderCase: Sendable, CustomTestStringConvertible {
    let template: String
    let rendered: String?
    let error: String?
    let context: [String: String]
    let addGenerationPrompt: Bool
    let date: String?
    var conversation: String
    var testDescription: String { "\(context["name"] ?? template.debugDescription.prefix(60).description)" }
}

enum JinjaFixtures {
    static let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

    /// Jinja2's own renderings of small templates (Tests/Fixtures/generate/jinja_semantics.py).
    static let semantics: (context: String, cases: [RenderCase]) = {
        let url = here.appendingPathComponent("Fixtures/jinja2_cases.json")
        guard let data = try? Data(contentsOf: url),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let cases = json["cases"] as? [[String: Any]],
              let context = try? JSONSerialization.data(withJSONObject: json["context"] ?? [:]) else { return ("{}", []) }
        return (String(decoding: context, as: UTF8.self), cases.map { c in
            RenderCase(template: c["template"] as! String, rendered: c["rendered"] as? String, error: c["error"] as? String,
                       context: [:], addGenerationPrompt: false, date: nil, conversation: "[]")
        })
    }()

    static let templatesFolder = Fixtures.dataFile("chat-templates")

    /// ../shared/golden/chat-templates.json: every llama.cpp template rendered by transformers.
    static let golden: [RenderCase] = {
        let url = Fixtures.goldenRoot.appendingPathComponent("chat-templates.json")
        guard let data = try? Data(contentsOf: url),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let cases = json["cases"] as? [[String: Any]] else { return [] }
        return cases.enumerated().map { index, c in
            let conversation = try! JSONSerialization.data(withJSONObject: c["conversation"]!)
            return RenderCase(template: c["template"] as! String, rendered: c["rendered"] as? String, error: c["error"] as? String,
                              context: ["bos_token": c["bos_token"] as! String, "eos_token": c["eos_token"] as! String,
                                        "name": "\(c["template"]!) #\(index)"],
                              addGenerationPrompt: c["add_generation_prompt"] as! Bool, date: c["date"] as? String,
                              conversation: String(decoding: conversation, as: UTF8.self))
        }
    }()

    static var haveGolden: Bool {
        !golden.isEmpty && FileManager.default.fileExists(atPath: templatesFolder)
    }
}

/// Renders `template` with the semantics fixture's context (plus `d`, whose int key JSON cannot hold).
func renderWithSemanticsContext(_ template: String) throws -> String {
    var context = Dict()
    guard case .dict(let parsed) = try JSON.parse(JinjaFixtures.semantics.context) else { return "" }
    for pair in parsed.pairs { context[pair.key] = pair.value }
    var d = Dict()
    d["b"] = .int(1)
    d["a"] = .list([.int(1), .double(2.5), .none, .bool(true), .string("x")])
    d[.int(3)] = .string("three")
    context["d"] = .dict(d)
    return try Template(template).render(context).string
}

@Suite struct JinjaSemanticsTests {
    /// Whitespace control, scoping, loops, macros, operators, filters, tests and string methods, each
    /// against Jinja2's own rendering; errors against the class of exception Jinja2 raised.
    @Test(arguments: JinjaFixtures.semantics.cases)
    func matchesJinja2(_ c: RenderCase) throws {
        if let expected = c.rendered {
            #expect(try renderWithSemanticsContext(c.template) == expected)
        } else {
            do {
                let rendered = try renderWithSemanticsContext(c.template)
                Issue.record("rendered \(rendered.debugDescription) where Jinja2 raised \(c.error ?? "")")
            } catch let error as JinjaError {
                #expect(error.kind.rawValue == c.error, "\(error)")
            }
        }
    }

    @Test func theFixtureIsThere() {
        #expect(JinjaFixtures.semantics.cases.count >= 40)
    }

    /// Errors name the line of the tag that failed.
    @Test func errorsCarryTheirLine() {
        let template = "{% set a = 1 %}\n\n{{ a }}\n{{ nothing.attribute }}\n"
        #expect(throws: JinjaError(.undefined, "'nothing' is undefined", line: 4)) { try Template(template).render(Dict()) }
        #expect(throws: JinjaError(.unsupported, "a recursive for loop", line: 2)) {
            try Template("x\n{% for a in b recursive %}{% endfor %}")
        }
    }

    /// Strings remember which scalars came from data through concatenation, slicing, strip, split and replace.
    @Test func dataSurvivesStringOperations() throws {
        var context = Dict()
        context["m"] = .string("  <|im_end|> hi  ", isData: true)
        let template = try Template("<s>{{ (m | trim).split(' ')[0] }}|{{ m.strip().replace('hi', 'HI') }}|{{ m[2:4] ~ '!' }}</s>")
        let runs = try template.render(context).runs
        #expect(runs.map(\.text) == ["<s>", "<|im_end|>", "|", "<|im_end|> ", "HI|", "<|", "!</s>"])
        #expect(runs.map(\.isData) == [false, true, false, true, false, true, false])
    }

    /// The sandbox's limits hold: long ranges, runaway macros and huge strings stop with an error.
    @Test func limitsStopRunawayTemplates() {
        #expect(throws: JinjaError.self) { try Template("{% for i in range(1000000) %}{% endfor %}").render(Dict()) }
        #expect(throws: JinjaError.self) { try Template("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}").render(Dict()) }
        #expect(throws: JinjaError.self) { try Template("{{ 'x' * 100000000 }}").render(Dict()) }
        #expect(throws: JinjaError.self) { try Template("{{ 2 ** 100 }}").render(Dict()) }
    }

    /// JSON keeps key order and rejects malformed input with its position.
    @Test func jsonKeepsOrderAndRefusesGarbage() throws {
        guard case .dict(let dict) = try JSON.parse("{\"z\": 1, \"a\": [true, null, 2.5, \"\\u00e9\\ud83c\\udfac\"]}") else {
            Issue.record("not a dict")
            return
        }
        #expect(dict.keys.map { "\($0.text)" } == ["z", "a"])
        #expect(throws: JinjaError.self) { try JSON.parse("{\"a\": }") }
        #expect(throws: JinjaError.self) { try JSON.parse("[1, 2") }
        #expect(throws: JinjaError.self) { try JSON.parse("\"\\ud800\"") }
    }
}

@Suite struct ChatTemplateGoldenTests {
    /// Every rendering of ../shared/golden/chat-templates.json, byte for byte, from the fetched templates.
    @Test(.enabled(if: JinjaFixtures.haveGolden, "chat templates not fetched (Scripts/fetch tokenizers) or ../shared/golden missing"),
          arguments: JinjaFixtures.golden)
    func rendersLikeTransformers(_ c: RenderCase) throws {
        let name = c.template
        let source = try String(contentsOfFile: JinjaFixtures.templatesFolder + "/" + name, encoding: .utf8)
        var context = Dict()
        context["messages"] = try JSON.parse(c.conversation, isData: true)
        context["add_generation_prompt"] = .bool(c.addGenerationPrompt)
        context["bos_token"] = .string(c.context["bos_token"]!)
        context["eos_token"] = .string(c.context["eos_token"]!)
        context["tools"] = Value.none
        context["documents"] = Value.none
        var now = Date()
        if let date = c.date {
            let formatter = DateFormatter()
            formatter.dateFormat = "yyyy-MM-dd"
            now = try #require(formatter.date(from: date))
        }
        if let expected = c.rendered {
            #expect(try Template(source).render(context, now: now).string == expected)
        } else {
            do {
                _ = try Template(source).render(context, now: now)
                Issue.record("\(name) rendered where transformers raised \(c.error ?? "")")
            } catch let error as JinjaError {
                #expect(error.kind.rawValue == c.error, "\(error)")
            }
        }
    }
}

extension JinjaSemanticsTests {
    /// Templates that nest without end (in their text, or in the values they build) stop with an error
    /// rather than exhausting the stack.
    @Test func nestingIsBounded() {
        let deepText = String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000)
        #expect(throws: JinjaError.self) { try Template("{{ \(deepText) }}") }
        #expect(throws: JinjaError.self) { try Template("{{ " + Array(repeating: "1", count: 5000).joined(separator: " + ") + " }}") }
        #expect(throws: JinjaError.self) { try Template(String(repeating: "{% if true %}", count: 5000)) }
        #expect(throws: JinjaError.self) { try Template("{{ x" + String(repeating: "|trim", count: 5000) + " }}") }
        #expect(throws: JinjaError.self) { try Template("{{ " + String(repeating: "not ", count: 5000) + "x }}") }
        let wrap = "{% set ns = namespace(x=1) %}{% for i in range(5000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}"
        #expect(throws: JinjaError(.limit, "a value nests lists, dicts or namespaces more than 600 deep", line: 1)) {
            try Template(wrap).render(Dict())
        }
        // Ordinary depth is fine.
        #expect((try? Template("{{ [[[[1]]]] | tojson }}").render(Dict()).string) == "[[[[1]]]]")
    }
}

extension JinjaSemanticsTests {
    /// Inputs a review found trapping: each now renders as Python does or throws a JinjaError.
    @Test func reviewedTrapsThrowOrRender() throws {
        func render(_ source: String) throws -> String { try Template(source).render(Dict()).string }
        #expect(try render("{{ {('nan'|float): 1} }}") == "{nan: 1}")
        #expect(try render("{{ 'ß'.swapcase() }}") == "SS")
        for source in ["{{ '{-1}'.format(1) }}", "{{ -(-9223372036854775807 - 1) }}", "{{ (-9223372036854775807 - 1)|abs }}",
                       "{{ (-9223372036854775807 - 1) // -1 }}", "{{ (-9223372036854775807 - 1) is divisibleby(-1) }}",
                       "{{ '' * 9223372036854775807 }}", "{{ [] * 1000000000000000000 }}",
                       "{{ [[[[[[1]]]]]]|tojson(indent=4000000) }}", "{{ 'a\nb'|indent(-5) }}{{ 'x' * 100000000 }}"] {
            do { _ = try render(source) } catch is JinjaError {} catch { Issue.record("\(source): \(error)") }
        }
        #expect(throws: JinjaError.self) { try JSON.parse("[123456789012345678901234567890]") }
    }

    /// transformers runs `{% generation %}` as a call block: a scope of its own.
    @Test func generationHasItsOwnScope() throws {
        #expect(try Template("{% generation %}{% set x = 1 %}A{% endgeneration %}[{{ x }}]").render(Dict()).string == "A[]")
        #expect(throws: JinjaError.self) { try Template("{% for i in [1] %}{% generation %}{% break %}{% endgeneration %}{% endfor %}") }
    }

    /// Message text keeps its origin through JSON keys, containers printed whole, and strftime_now.
    @Test func dataSurvivesKeysContainersAndDates() throws {
        var context = Dict()
        context["m"] = try JSON.parse(#"{"<|eot_id|>": ["<s>"]}"#, isData: true)
        let runs = try Template("{% for k, v in m|items %}[{{ k }}]{{ v }}{% endfor %}{{ m|tojson }}{{ strftime_now(m|first) }}")
            .render(context, now: Date(timeIntervalSince1970: 0)).runs
        #expect(runs.filter { !$0.isData }.map(\.text) == ["[", "]"])
    }
}
