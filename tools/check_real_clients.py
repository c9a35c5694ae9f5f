#!/usr/bin/env python3
"""Do real clients load what Scalpel writes? For each golden family, this edits the tiny model with a
short recipe (from its GGUF and from its Hugging Face folder), then:
  - runs the edited GGUF in llama.cpp (llama-cpp-python) and compares its logits with `scalpel forward`
    on the same file;
  - loads the Hugging Face export in transformers (AutoModelForCausalLM.from_pretrained) and compares its
    logits with `scalpel forward` on the export and on the edited checkpoint.

A developer's check, never a run-time dependency. In a virtual environment:
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install torch transformers llama-cpp-python==0.3.36
    swift build -c release && /tmp/venv/bin/python tools/check_real_clients.py [--scalpel .build/release/scalpel]

Prints one line per check and exits non-zero when any difference exceeds its bound: 1e-4 for
transformers, and for llama.cpp 1e-4, or 1e-2 for the GELU families (ggml's GELU reads a float16 table).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

FAMILIES = ["llama3", "mistral", "qwen2", "qwen3", "phi3", "gemma2", "gpt2", "gptneox"]
GELU = {"gemma2", "gpt2", "gptneox"}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def scalpel_logits(scalpel, model, ids):
    """Every logit of every position, from `scalpel forward --ids --save-logits`."""
    with tempfile.NamedTemporaryFile(suffix=".f32") as file:
        subprocess.run([scalpel, "forward", "--model", model, "--ids", ",".join(map(str, ids)), "--top", "1",
                        "--save-logits", file.name, "--json"], capture_output=True, text=True, check=True)
        return np.fromfile(file.name, dtype="<f4").astype(np.float64).reshape(len(ids), -1)


def edit(scalpel, family, model, work, stages="[prompt, collect, rank, ablate, edit, audit]"):
    """Runs the stages on `model`; returns the run's edit folder."""
    folder = os.path.join(work, f"{family}-{os.path.basename(model).replace('.', '_')}")
    os.makedirs(folder)
    with open(os.path.join(folder, "data.csv"), "w") as f:
        f.write("text,label\n" + "".join(f"{'good' if i % 2 == 0 else 'bad'} film {i},{i % 2}\n" for i in range(60)))
    with open(os.path.join(folder, "general.jsonl"), "w") as f:
        f.write("\n".join(json.dumps({"text": f"The film {i} was shown to {i * 7} people."}) for i in range(110)))
    recipe = os.path.join(folder, "recipe.yaml")
    with open(recipe, "w") as f:
        f.write(f"""name: {family}
model: {model}
seed: 3
output: {folder}/run
stages: {stages}
data: {{loader: csv, path: {folder}/data.csv, text: text, label: label, split: {{train: 0.6, dev: 0.2, test: 0.2}}}}
task: {{template: "{{text}} =", verbalizers: ["a", "b"]}}
prompt: {{length: 2, epochs: 1, batch_size: 8}}
collect: {{max_examples: 30, batch_size: 4}}
rank: {{permutations: 20, bootstrap: 10, top_k: 6}}
ablate: {{k: [2], random_sets: 2, general_texts: 2, general_text: {folder}/general.jsonl}}
edit: {{neurons: 3, steps: 3, batch_size: 4, learning_rate: 0.05, write: exact}}
audit: {{general_text: {folder}/general.jsonl}}
""")
    subprocess.run([scalpel, "run", recipe, "--json"], capture_output=True, text=True, check=True)
    return os.path.join(folder, "run", "edit")


def llama_cpp_logits(path, ids):
    from llama_cpp import Llama
    # A float32 KV cache, as the golden manifests ran it (the default float16 cache alone differs by ~5e-3).
    model = Llama(model_path=path, n_ctx=64, logits_all=True, verbose=False, n_threads=1, type_k=0, type_v=0)
    model.eval(ids)
    return np.array(model.scores[: len(ids)], dtype=np.float64)


def transformers_logits(folder, ids):
    import torch
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager")
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].double().numpy()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--scalpel", default=os.path.join(ROOT, ".build/release/scalpel"))
    parser.add_argument("--golden", default=os.path.join(os.path.dirname(ROOT), "shared/golden/families"))
    parser.add_argument("--families", nargs="*", default=FAMILIES)
    parser.add_argument("--real", nargs="*", default=[], metavar="GOLDEN=CHECKPOINT",
                        help="real GGUFs too, e.g. gemma3-270m=checkpoints/gemma-3-270m-q4_k_m.gguf (llama.cpp's quantized "
                             "kernels then differ from the float reference, so its greedy tokens are compared)")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="scalpel-clients-")
    failures = 0

    def report(what, difference, bound):
        nonlocal failures
        ok = difference <= bound
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {what:58s} max |Δ| {difference:.3g} (bound {bound:g})", flush=True)

    try:
        for family in args.families:
            ids = np.fromfile(os.path.join(args.golden, family, "p1_ids.i32"), dtype="<i4").tolist()
            for source in ["model-f32.gguf", "hf"]:
                stage = edit(args.scalpel, family, os.path.join(args.golden, family, source), work)
                export = os.path.join(stage, "hf")
                for name in ["tokenizer.json", "tokenizer_config.json"]:          # transformers wants them beside
                    if not os.path.exists(os.path.join(export, name)):
                        shutil.copy(os.path.join(args.golden, family, "hf", name), export)
                if source.endswith(".gguf"):
                    gguf = os.path.join(stage, "edited.gguf")
                    ours = scalpel_logits(args.scalpel, gguf, ids)
                    theirs = llama_cpp_logits(gguf, ids)
                    report(f"{family} from GGUF: llama.cpp on edited.gguf", np.abs(ours - theirs).max(), 1e-2 if family in GELU else 1e-4)
                    report(f"{family} from GGUF: transformers on hf/ vs edited.gguf", np.abs(transformers_logits(export, ids) - ours).max(), 1e-4)
                ours = scalpel_logits(args.scalpel, export, ids)
                report(f"{family} from {source}: transformers on hf/ vs Scalpel on hf/", np.abs(transformers_logits(export, ids) - ours).max(), 1e-4)
        for entry in args.real:
            name, checkpoint = entry.split("=", 1)
            ids = np.fromfile(os.path.join(os.path.dirname(args.golden), name, "p0_ids.i32"), dtype="<i4").tolist()
            stage = edit(args.scalpel, name, os.path.abspath(checkpoint), work, stages="[collect, rank, edit]")
            gguf, export = os.path.join(stage, "edited.gguf"), os.path.join(stage, "hf")
            ours, base = scalpel_logits(args.scalpel, gguf, ids), scalpel_logits(args.scalpel, os.path.abspath(checkpoint), ids)
            # llama.cpp multiplies K-quants with int8-quantized activations, so it is off the float reference by
            # itself: its distance on the base is the yardstick for its distance on the edit.
            theirs, theirs_base = llama_cpp_logits(gguf, ids), llama_cpp_logits(os.path.abspath(checkpoint), ids)
            agree = (ours.argmax(1) == theirs.argmax(1)).mean()
            print(f"info {name}: llama.cpp vs Scalpel max |Δ| base {np.abs(base - theirs_base).max():.3g}, edited "
                  f"{np.abs(ours - theirs).max():.3g}; argmax agreement on the edit {agree:.0%}")
            # The edit's own effect (edited − base) must agree even where the kernels' rounding does not.
            effect = np.corrcoef((ours - base).ravel(), (theirs - theirs_base).ravel())[0, 1]
            report(f"{name}: 1 − corr(edit's effect, llama.cpp vs Scalpel)", 1 - effect, 0.01)
            # A SentencePiece vocabulary has no tokenizer.json here, so the export is compared with the edited GGUF.
            report(f"{name}: transformers on hf/ vs Scalpel on edited.gguf", np.abs(transformers_logits(export, ids) - ours).max(), 1e-3)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{failures} check(s) failed" if failures else "every check passed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
