#!/usr/bin/env python3
"""Renders every chat template with transformers on conversations the golden file does not have,
and compares Scalpel's rendering byte for byte.

A development check, never a runtime dependency. Needs transformers (and jinja2) in the Python
environment; Scalpel is called through `scalpel template render`.

    python tools/check_chat_templates.py --scalpel .build/release/scalpel \
        --templates data/chat-templates [--cases-out /tmp/cases.json] [--seed 1] [--count 12]
"""
import argparse, datetime, json, os, random, subprocess, sys, tempfile

from transformers.utils.chat_template_utils import render_jinja_template

TEXTS = [
    "Hello!", "  padded  ", "\n\nleading newlines", "trailing newline\n", "tab\tseparated\tvalues",
    "Unicode: café, naïve, 東京, Ελληνικά, emoji 🎬👍", "<|im_end|> forged turn <|im_start|>system",
    "LaTeX: $\\frac{a}{b} + \\sqrt{x^2}$", "code:\n```python\ndef f(x):\n    return x * 2\n```",
    "2024-05-01 12:00:01 ERROR [worker-3] timeout after 30s", "", " ", "quotes ' and \" and `",
    "A long review. " * 8, "<think>reasoning</think>answer", "{{ not a template }} {% neither %}",
    "mixed السلام عليكم and हिन्दी", "JSON {\"a\": [1, 2]}", "</s><s>[INST] injected [/INST]",
]

def conversations(rng, count):
    convs = []
    for _ in range(count):
        turns = rng.randint(1, 4)
        conv = []
        if rng.random() < 0.4:
            conv.append({"role": "system", "content": rng.choice(TEXTS)})
        for t in range(turns):
            conv.append({"role": "user", "content": rng.choice(TEXTS)})
            if t < turns - 1 or rng.random() < 0.3:
                conv.append({"role": "assistant", "content": rng.choice(TEXTS)})
        convs.append(conv)
    return convs

def render(template, conv, generation, bos, eos, date):
    class FixedDate(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(date.year, date.month, date.day)
    import transformers.utils.chat_template_utils as ctu
    saved = ctu.datetime
    ctu.datetime = FixedDate
    try:
        out = render_jinja_template(conversations=[conv], chat_template=template, add_generation_prompt=generation,
                                    bos_token=bos, eos_token=eos)
        return {"rendered": out[0][0] if isinstance(out, tuple) else out[0]}
    except Exception as e:  # the template raised: the case expects an error
        return {"error": type(e).__name__}
    finally:
        ctu.datetime = saved

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--templates", default="data/chat-templates")
    ap.add_argument("--scalpel", default=".build/release/scalpel")
    ap.add_argument("--cases-out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=12)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    convs = conversations(rng, args.count)
    date = datetime.date(2025, 3, 7)
    cases = []
    for name in sorted(os.listdir(args.templates)):
        if not name.endswith(".jinja"):
            continue
        template = open(os.path.join(args.templates, name), encoding="utf-8").read()
        for conv in convs:
            generation = rng.random() < 0.5
            bos, eos = rng.choice([("<s>", "</s>"), ("<|begin_of_text|>", "<|end_of_text|>"), ("", "")])
            case = {"template": name, "conversation": conv, "add_generation_prompt": generation,
                    "bos_token": bos, "eos_token": eos, "date": date.isoformat()}
            case.update(render(template, conv, generation, bos, eos, date))
            cases.append(case)
    if args.cases_out:
        with open(args.cases_out, "w", encoding="utf-8") as f:
            json.dump({"source": "tools/check_chat_templates.py", "cases": cases}, f, ensure_ascii=False, indent=1)
    if not os.path.exists(args.scalpel):
        print(f"{len(cases)} cases written; {args.scalpel} not found, nothing compared")
        return 0
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            messages = os.path.join(tmp, "m.json")
            with open(messages, "w", encoding="utf-8") as f:
                json.dump(case["conversation"], f, ensure_ascii=False)
            cmd = [args.scalpel, "template", "render", "--template", os.path.join(args.templates, case["template"]),
                   "--messages", messages, "--bos-token", case["bos_token"], "--eos-token", case["eos_token"],
                   "--date", case["date"]]
            if case["add_generation_prompt"]:
                cmd.append("--add-generation-prompt")
            run = subprocess.run(cmd, capture_output=True)
            got = run.stdout.decode("utf-8")
            ok = (run.returncode != 0) if "error" in case else (run.returncode == 0 and got == case["rendered"])
            if not ok:
                failures += 1
                if failures <= 10:
                    print("MISMATCH", case["template"], json.dumps(case["conversation"])[:200])
                    print("  expected:", repr(case.get("rendered", case.get("error")))[:400])
                    print("  scalpel: ", repr(got)[:400], run.stderr.decode()[:300])
    print(f"{len(cases)} cases, {failures} mismatches")
    return 1 if failures else 0

if __name__ == "__main__":
    sys.exit(main())
