"""Writes Tests/ModelsTests/Fixtures/long_context.{json,f32}: an independent float64 NumPy forward of
SmolLM2 on a ~450-token text, so that everything that depends on the position (RoPE, causal masking, the
KV cache) is checked far beyond the golden prompts' 15 tokens.

    /tmp/v/bin/pip install gguf numpy tokenizers
    /tmp/v/bin/python Tests/Fixtures/generate/llama_long_context.py

This follows Hugging Face's modeling_llama.py, not Scalpel's code: the GGUF's Q/K rows are un-permuted
back to Hugging Face's layout and RoPE is applied in the rotate-half form.
"""
import json
import os

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
OUT = os.path.join(ROOT, "Tests", "ModelsTests", "Fixtures")

TEXT = " ".join([
    "The film opens on a quiet street in a small town, where nothing much seems to happen until a stranger arrives.",
    "Over the next two hours, the director builds a patient, unsettling portrait of a community that would rather not look at itself.",
    "The performances are uniformly strong: the lead carries every scene with a wary intelligence, and the supporting cast never strikes a false note.",
    "Still, the script has problems. It circles the same ideas again and again, and the final act resolves its mysteries too neatly.",
    "Some viewers will find the pacing deliberate; others will find it simply slow.",
    "The cinematography, by contrast, is a marvel, all long shadows and low winter light, and the score knows when to stay silent.",
    "In the end, this is a flawed but serious piece of work, the kind of movie that lingers for days after the credits roll.",
    "Question: would I recommend it? Yes, with reservations, to anyone who likes their dramas slow-burning and their endings ambiguous.",
] * 3)


def tensor(reader, name):
    t = next(t for t in reader.tensors if t.name == name)
    return dequantize(t.data, t.tensor_type).astype(np.float64).reshape([int(x) for x in reversed(t.shape)])


def unpermute(w, heads):
    # llama.cpp's convert permutes rows as reshape(heads, 2, D/2, C).swapaxes(1, 2); undo it.
    rows, cols = w.shape
    return w.reshape(heads, rows // heads // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)


def rms_norm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def main():
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from tokenizer_reference import smollm2
    ids = smollm2().encode(TEXT, add_special_tokens=False).ids
    reader = GGUFReader(os.path.join(ROOT, "checkpoints", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    H, G, C, L, eps, theta = 9, 3, 576, 30, 1e-5, 100000.0
    D = C // H
    emb = tensor(reader, "token_embd.weight")
    x = emb[ids]
    T = len(ids)
    inv = 1.0 / theta ** (np.arange(0, D, 2) / D)
    angles = np.outer(np.arange(T), inv)
    cos, sin = np.cos(np.concatenate([angles, angles], -1)), np.sin(np.concatenate([angles, angles], -1))
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(L):
        p = f"blk.{l}."
        a = rms_norm(x, tensor(reader, p + "attn_norm.weight"), eps)
        q = (a @ unpermute(tensor(reader, p + "attn_q.weight"), H).T).reshape(T, H, D).transpose(1, 0, 2)
        k = (a @ unpermute(tensor(reader, p + "attn_k.weight"), G).T).reshape(T, G, D).transpose(1, 0, 2)
        v = (a @ tensor(reader, p + "attn_v.weight").T).reshape(T, G, D).transpose(1, 0, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = np.repeat(k, H // G, 0), np.repeat(v, H // G, 0)
        s = q @ k.transpose(0, 2, 1) / np.sqrt(D) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        o = (s @ v).transpose(1, 0, 2).reshape(T, C)
        x = x + o @ tensor(reader, p + "attn_output.weight").T
        m = rms_norm(x, tensor(reader, p + "ffn_norm.weight"), eps)
        g, u = m @ tensor(reader, p + "ffn_gate.weight").T, m @ tensor(reader, p + "ffn_up.weight").T
        x = x + (g / (1 + np.exp(-g)) * u) @ tensor(reader, p + "ffn_down.weight").T
        print(f"layer {l}", flush=True)
    logits = rms_norm(x, tensor(reader, "output_norm.weight"), eps) @ emb.T
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    loss = -np.mean([logp[t, ids[t + 1]] for t in range(T - 1)])
    rows = [200, T - 1]
    np.asarray(logits[rows], dtype="<f4").tofile(os.path.join(OUT, "long_context_logits.f32"))
    json.dump({"source": "float64 NumPy forward, Tests/Fixtures/generate/llama_long_context.py", "ids": ids,
               "logit_rows": rows, "loss": float(loss)}, open(os.path.join(OUT, "long_context.json"), "w"))
    print(f"{T} tokens, loss {loss:.6f}")


if __name__ == "__main__":
    main()
