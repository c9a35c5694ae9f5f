#!/usr/bin/env python3
"""PyTorch's CPU speed on SmolLM2-135M's shape, beside Scalpel's on the real model, one after the other.

Three measurements, each as Scalpel's benchmark of the same name runs it (batch 8 x 64 by default):
- forward: logits at every position (`scalpel bench forward --variant all-logits`);
- edit step: next-token loss over every position, backward, AdamW on the FFN matrices with their
  gradients masked to 32 random neurons per layer afterwards, as PyTorch users edit sparsely
  (`scalpel bench edit-step`, which forms only the selected slices' gradients);
- prompt step: 16 trainable virtual tokens before the text, the model frozen, the loss of two
  verbalizer logits at the last position, AdamW on the prompt (`scalpel bench prompt-step`).

PyTorch runs the same architecture (RMSNorm, grouped-query attention with RoPE, a SiLU-gated MLP, tied
embeddings) with random weights of SmolLM2's shape in Float32: speed does not depend on the values.
torch comes from PyPI in a virtual environment and is never a runtime dependency of Scalpel.

    tools/bench_pytorch.py [--threads 2] [--batch 8] [--length 64] [--repeats 3]
                           [--scalpel .build/release/scalpel]

Both run pinned to the first `threads` cores this process may use, one after the other.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HIDDEN, LAYERS, HEADS, KV_HEADS, FFN, VOCAB, THETA, EPS = 576, 30, 9, 3, 1536, 49152, 100000.0, 1e-5


def model(torch):
    nn, F = torch.nn, torch.nn.functional
    head_dim = HIDDEN // HEADS

    class RMSNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(HIDDEN))

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * self.weight

    def rope(x, cos, sin):
        half = x.shape[-1] // 2
        rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return x * cos + rotated * sin

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1, self.norm2 = RMSNorm(), RMSNorm()
            self.q = nn.Linear(HIDDEN, HEADS * head_dim, bias=False)
            self.k = nn.Linear(HIDDEN, KV_HEADS * head_dim, bias=False)
            self.v = nn.Linear(HIDDEN, KV_HEADS * head_dim, bias=False)
            self.o = nn.Linear(HEADS * head_dim, HIDDEN, bias=False)
            self.gate = nn.Linear(HIDDEN, FFN, bias=False)
            self.up = nn.Linear(HIDDEN, FFN, bias=False)
            self.down = nn.Linear(FFN, HIDDEN, bias=False)

        def forward(self, x, cos, sin):
            b, t, _ = x.shape
            h = self.norm1(x)
            q = self.q(h).view(b, t, HEADS, head_dim).transpose(1, 2)
            k = self.k(h).view(b, t, KV_HEADS, head_dim).transpose(1, 2)
            v = self.v(h).view(b, t, KV_HEADS, head_dim).transpose(1, 2)
            q, k = rope(q, cos, sin), rope(k, cos, sin)
            k = k.repeat_interleave(HEADS // KV_HEADS, dim=1)
            v = v.repeat_interleave(HEADS // KV_HEADS, dim=1)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.o(a.transpose(1, 2).reshape(b, t, HEADS * head_dim))
            h = self.norm2(x)
            return x + self.down(F.silu(self.gate(h)) * self.up(h))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, HIDDEN)
            self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
            self.norm = RMSNorm()

        def forward(self, embeddings, last_only=False):
            t = embeddings.shape[1]
            inv = 1.0 / THETA ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
            angles = torch.outer(torch.arange(t, dtype=torch.float32), inv)
            cos, sin = torch.cat((angles.cos(),) * 2, -1), torch.cat((angles.sin(),) * 2, -1)
            x = embeddings
            for block in self.blocks:
                x = block(x, cos, sin)
            x = self.norm(x)
            if last_only:
                x = x[:, -1]
            return x @ self.embed.weight.t()

    torch.manual_seed(1)
    m = Model()
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() == 2:
                p.normal_(0, 0.02)
    return m


def best(runs, step):
    step()                                   # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times)


def pytorch(threads, batch, length, repeats, neurons, virtual):
    import torch
    torch.set_num_threads(threads)
    m = model(torch)
    F = torch.nn.functional
    tokens = torch.randint(3, VOCAB, (batch, length), generator=torch.Generator().manual_seed(2))
    result = {"torch": torch.__version__, "threads": threads}

    with torch.no_grad():
        seconds = best(repeats, lambda: m(m.embed(tokens)))
    result["forward_tokens_per_second"] = batch * length / seconds

    # Edit step: every FFN matrix trains densely, its gradient masked to the chosen neurons afterwards.
    for p in m.parameters():
        p.requires_grad_(False)
    masks = []
    generator = torch.Generator().manual_seed(3)
    for block in m.blocks:
        chosen = torch.randperm(FFN, generator=generator)[:neurons]
        for linear, axis in ((block.gate, 0), (block.up, 0), (block.down, 1)):
            mask = torch.zeros_like(linear.weight)
            if axis == 0:
                mask[chosen] = 1
            else:
                mask[:, chosen] = 1
            linear.weight.requires_grad_(True)
            masks.append((linear.weight, mask))
    optimizer = torch.optim.AdamW([w for w, _ in masks], lr=1e-4, weight_decay=0.0)

    def edit_step():
        optimizer.zero_grad(set_to_none=True)
        logits = m(m.embed(tokens))
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), tokens[:, 1:].reshape(-1))
        loss.backward()
        for w, mask in masks:
            w.grad.mul_(mask)
        optimizer.step()

    result["edit_step_tokens_per_second"] = batch * length / best(repeats, edit_step)
    for w, _ in masks:
        w.requires_grad_(False)

    # Prompt step: the model frozen, 16 virtual tokens trained.
    prompt = torch.nn.Parameter(torch.randn(virtual, HIDDEN, generator=torch.Generator().manual_seed(4)) * 0.1)
    prompt_optimizer = torch.optim.AdamW([prompt], lr=1e-3, weight_decay=0.0)
    labels = torch.arange(batch) % 2
    verbalizers = torch.tensor([3524, 2731])

    def prompt_step():
        prompt_optimizer.zero_grad(set_to_none=True)
        embeddings = torch.cat((prompt.expand(batch, -1, -1), m.embed(tokens)), dim=1)
        logits = m(embeddings, last_only=True)[:, verbalizers]
        F.cross_entropy(logits, labels).backward()
        prompt_optimizer.step()

    result["prompt_step_tokens_per_second"] = batch * (length + virtual) / best(repeats, prompt_step)
    return result


def scalpel(binary, batch, length, repeats):
    def run(*arguments):
        return json.loads(subprocess.run([binary, "bench", *arguments, "--batch", str(batch), "--length", str(length),
                                          "--repeats", str(repeats), "--json"],
                                         check=True, capture_output=True, text=True).stdout)
    forward = run("forward", "--variant", "all-logits")
    edit = run("edit-step")
    prompt = run("prompt-step")
    return {"forward_tokens_per_second": forward["results"][0]["tokens_per_second"],
            "edit_step_tokens_per_second": edit["step_tokens_per_second"],
            "prompt_step_tokens_per_second": prompt["step_tokens_per_second"],
            "blas": forward.get("blas", {}).get("core")}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--neurons", type=int, default=32)
    parser.add_argument("--virtual", type=int, default=16)
    parser.add_argument("--scalpel", default=".build/release/scalpel")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:args.threads]))
    print("PyTorch…", file=sys.stderr)
    reference = pytorch(args.threads, args.batch, args.length, args.repeats, args.neurons, args.virtual)
    print("Scalpel…", file=sys.stderr)
    ours = scalpel(args.scalpel, args.batch, args.length, args.repeats)
    ratios = {key: ours[key] / reference[key] for key in reference if key.endswith("_per_second")}
    print(json.dumps({"pytorch": reference, "scalpel": ours, "scalpel_over_pytorch": ratios}, indent=2))


if __name__ == "__main__":
    main()
