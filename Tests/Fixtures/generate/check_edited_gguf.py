# Usage: python check_edited_gguf.py BASE.gguf EDITED.gguf  (needs: pip install gguf numpy)
# Independent check of an edited GGUF with gguf-py (llama.cpp's reader): untouched tensors byte-identical,
# edited tensors F32, equal to the base's dequantized values outside the recorded neurons.
import sys, numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize
base, edited = GGUFReader(sys.argv[1]), GGUFReader(sys.argv[2])
field = edited.fields["scalpel.edit.neurons"]
text = bytes(field.parts[field.data[0]]).decode()
neurons = [tuple(map(int, p.split(":"))) for p in text.split(",")]
by_layer = {}
for l, n in neurons: by_layer.setdefault(l, set()).add(n)
bt = {t.name: t for t in base.tensors}
identical = changed = outside = 0
for t in edited.tensors:
    b = bt[t.name]
    if t.tensor_type == b.tensor_type and bytes(t.data.tobytes()) == bytes(b.data.tobytes()):
        identical += 1; continue
    changed += 1
    old = dequantize(b.data, b.tensor_type).reshape(-1, b.shape[0]) if False else dequantize(b.data, b.tensor_type)
    new = np.asarray(t.data, dtype=np.float32)
    old = old.reshape(new.shape)
    layer = int(t.name.split(".")[1]); owned = by_layer.get(layer, set())
    diff = old != new
    rows, cols = np.nonzero(diff)
    for r, c in zip(rows, cols):
        ok = (("ffn_gate" in t.name or "ffn_up" in t.name) and r in owned) or ("ffn_down" in t.name and c in owned)
        if not ok: outside += 1
print(f"gguf-py: {len(edited.tensors)} tensors, {identical} byte-identical, {changed} changed (types {sorted({t.tensor_type.name for t in edited.tensors if t.name not in bt or t.tensor_type != bt[t.name].tensor_type})}), {outside} weights changed outside the {len(neurons)} neurons")
