import Foundation
import Testing
import TestSupport
import Yams

/// The templates in deploy/ are what users edit, not code, but they build scalpel command lines: every
/// line they build must be one scalpel accepts. Kubernetes is not here (no cluster in CI), so the
/// manifests are parsed, their `$(VAR)`s expanded as the kubelet expands them, and each command line
/// checked by `scalpel` itself (SCALPEL_CHECK_ONLY=1 parses and validates, and runs nothing). The Slurm
/// scripts are run for real by Scripts/test-slurm; here they must at least parse.
@Suite struct DeployTemplateTests {
    static let repository = Fixtures.root
    static let kubernetes = repository.appendingPathComponent("deploy/kubernetes")

    /// Every manifest, by file name.
    func manifests() throws -> [String: [String: Any]] {
        var found: [String: [String: Any]] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: Self.kubernetes.path) where name.hasSuffix(".yaml") {
            let text = try String(contentsOf: Self.kubernetes.appendingPathComponent(name), encoding: .utf8)
            found[name] = try #require(try Yams.load(yaml: text) as? [String: Any], "\(name) is one YAML mapping")
        }
        return found
    }

    /// `$(NAME)` replaced by the container's env value; the completion index by `index`.
    func expand(_ text: String, env: [[String: Any]], index: Int) throws -> String {
        var out = text
        for variable in env {
            let name = try #require(variable["name"] as? String)
            let value: String
            if let plain = variable["value"] { value = "\(plain)" } else {
                let path = (((variable["valueFrom"] as? [String: Any])?["fieldRef"] as? [String: Any])?["fieldPath"] as? String)
                #expect(path == "metadata.annotations['batch.kubernetes.io/job-completion-index']", "\(name)")
                value = "\(index)"
            }
            out = out.replacingOccurrences(of: "$(\(name))", with: value)
        }
        #expect(!out.contains("$("), "an unexpanded variable in \(out)")
        return out
    }

    @Test func everyKubernetesCommandLineIsOneScalpelAccepts() throws {
        let all = try manifests()
        #expect(Set(all.keys).isSuperset(of: ["collect-job.yaml", "ablate-job.yaml", "merge-collect-job.yaml",
                                              "merge-ablate-job.yaml", "run-folder-pvc.yaml"]))
        let claim = try #require((all["run-folder-pvc.yaml"]?["metadata"] as? [String: Any])?["name"] as? String)
        var checked = 0
        for (name, manifest) in all where manifest["kind"] as? String == "Job" {
            let spec = try #require(manifest["spec"] as? [String: Any])
            let pod = try #require((spec["template"] as? [String: Any])?["spec"] as? [String: Any])
            let indexed = spec["completionMode"] as? String == "Indexed"
            let completions = spec["completions"] as? Int ?? 1
            if indexed { #expect((spec["parallelism"] as? Int ?? 1) <= completions, "\(name)") }
            let volumes = try #require(pod["volumes"] as? [[String: Any]])
            #expect(volumes.contains { ($0["persistentVolumeClaim"] as? [String: Any])?["claimName"] as? String == claim },
                    "\(name) mounts the run folder's claim")
            let containers = (pod["initContainers"] as? [[String: Any]] ?? []) + (pod["containers"] as? [[String: Any]] ?? [])
            for container in containers {
                let env = container["env"] as? [[String: Any]] ?? []
                if indexed {
                    let shards = env.first { $0["name"] as? String == "SHARDS" }?["value"] as? String
                    #expect(shards == "\(completions)", "\(name): SHARDS is the number of completions")
                }
                for index in Set([0, completions - 1]) {
                    let line = try ((container["command"] as? [String] ?? []) + (container["args"] as? [String] ?? []))
                        .map { try expand($0, env: env, index: index) }
                    #expect(line.first == "/usr/bin/env" && line.dropFirst().first == "scalpel", "\(name): \(line)")
                    let recipe = line.first { $0.hasSuffix(".yaml") }
                    if let recipe {
                        #expect(FileManager.default.fileExists(atPath: Self.repository.appendingPathComponent(recipe).path),
                                "\(name) names \(recipe), which the repository ships")
                    }
                    let run = try runScalpel(Array(line.dropFirst(2)), environment: ["SCALPEL_CHECK_ONLY": "1"])
                    #expect(run.status == 0 && run.stdout.hasPrefix("ok: scalpel \(line[2])"),
                            "\(name): \(line.joined(separator: " ")) → \(run.stdout) \(run.stderr)")
                    checked += 1
                }
            }
        }
        #expect(checked >= 6)
        // The check is real: a shard past N is refused.
        let bad = try runScalpel(["collect", "Recipes/sentiment-smollm2.yaml", "--shard", "8/8"],
                                 environment: ["SCALPEL_CHECK_ONLY": "1"])
        #expect(bad.status != 0 && bad.stderr.contains("--shard must be i/N"))
    }

    @Test func theSlurmScriptsParse() throws {
        let folder = Self.repository.appendingPathComponent("deploy/slurm")
        let scripts = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasSuffix(".sbatch") || $0.hasSuffix(".sh") }
        #expect(Set(scripts).isSuperset(of: ["collect.sbatch", "ablate.sbatch", "merge.sbatch", "submit.sh"]))
        for script in scripts {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = ["-n", folder.appendingPathComponent(script).path]
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "bash -n \(script)")
        }
    }
}
