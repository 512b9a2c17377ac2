#!/usr/bin/python3
"""Interop fixtures between Unroll and PyTorch (issue 8).

Run from the repository root with the Debian interpreter:

    /usr/bin/python3 bench/reference/interop_fixtures.py            # both directions
    /usr/bin/python3 bench/reference/interop_fixtures.py --only torch
    /usr/bin/python3 bench/reference/interop_fixtures.py --only unroll

(a) PyTorch -> Unroll: builds small language models nn.Embedding -> nn.LSTM/GRU/RNN (batch_first) -> nn.Linear
    with a fixed seed, saves their state_dict as safetensors (`torch_<name>.safetensors`) plus the configuration
    sidecar (`torch_<name>.config.json`), and the float64 logits and final states for a fixed input and a fixed
    initial state (`torch_<name>.expected.json`). The C# test imports those weights into Unroll and compares.

(b) Unroll -> PyTorch: reads the Unroll exports committed by the C# test (`unroll_<name>.safetensors` +
    `unroll_<name>.config.json`), loads them into torch with the snippet from docs/interop.md (executed from the
    document itself, so the documented snippet is what is tested), and writes the logits PyTorch computes
    (`unroll_<name>.expected.json`).

The `safetensors` Python package is not installed here (Debian bookworm has no python3-safetensors), so this file
reads and writes the format itself (8-byte little-endian header length, JSON header, raw little-endian data) and
installs a tiny `safetensors.torch` shim with `load_file`/`save_file` so the documented snippet runs unchanged.
"""
import argparse
import json
import os
import re
import struct
import sys
import types

import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "Unroll.Tests", "Fixtures", "interop")
DOC = os.path.join(ROOT, "docs", "interop.md")

# name, cell, vocab, embed, hidden, layers, tied
CASES = [
    ("lstm_l1", "lstm", 11, 5, 6, 1, False),
    ("lstm_l2", "lstm", 11, 5, 6, 2, False),
    ("gru_l1", "gru", 11, 5, 6, 1, False),
    ("gru_l2", "gru", 11, 5, 6, 2, False),
    ("rnn_tanh_l1", "rnn_tanh", 11, 5, 6, 1, False),
    ("rnn_tanh_l2", "rnn_tanh", 11, 5, 6, 2, False),
    ("rnn_relu_l1", "rnn_relu", 11, 5, 6, 1, False),
    ("lstm_l2_tied", "lstm", 11, 6, 6, 2, True),
]

# fixed input: batch 2, sequence 5
IDS = [[3, 0, 10, 7, 7], [1, 4, 9, 2, 5]]

_DTYPES = {"F32": (torch.float32, 4), "F64": (torch.float64, 8)}


def st_save(tensors, path):
    """Writes a safetensors file (F32 only), names sorted, 8-byte aligned header."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous().cpu()
        raw = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def st_load(path):
    """Reads a safetensors file (F32/F64) into a dict of torch tensors."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    body = data[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt, size = _DTYPES[info["dtype"]]
        a, b = info["data_offsets"]
        count = (b - a) // size
        t = torch.frombuffer(bytearray(body[a:b]), dtype=dt, count=count)
        out[name] = t.reshape(info["shape"]).clone()
    return out


def install_safetensors_shim():
    """Makes `from safetensors.torch import load_file` work when the real package is absent."""
    try:
        import safetensors.torch  # noqa: F401
        return "safetensors (installed package)"
    except ImportError:
        pkg = types.ModuleType("safetensors")
        sub = types.ModuleType("safetensors.torch")
        sub.load_file = lambda path, device="cpu": st_load(path)
        sub.save_file = lambda tensors, path, metadata=None: st_save(tensors, path)
        pkg.torch = sub
        sys.modules["safetensors"] = pkg
        sys.modules["safetensors.torch"] = sub
        return "safetensors shim from interop_fixtures.py"


def doc_snippet():
    """The python block of docs/interop.md that follows the marker comment `<!-- tested-snippet -->`."""
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"<!-- tested-snippet -->\s*```python\n(.*?)```", text, re.S)
    if not m:
        raise SystemExit("docs/interop.md has no <!-- tested-snippet --> python block")
    ns = {}
    exec(compile(m.group(1), DOC, "exec"), ns)
    return ns


class LM(nn.Module):
    """Same architecture as PyTorch's word_language_model RNNModel (without dropout)."""

    def __init__(self, cell, vocab, embed, hidden, layers, tied):
        super().__init__()
        self.cell = cell
        self.encoder = nn.Embedding(vocab, embed)
        if cell == "lstm":
            self.rnn = nn.LSTM(embed, hidden, layers, batch_first=True)
        elif cell == "gru":
            self.rnn = nn.GRU(embed, hidden, layers, batch_first=True)
        else:
            self.rnn = nn.RNN(embed, hidden, layers, nonlinearity=cell[4:], batch_first=True)
        self.decoder = nn.Linear(hidden, vocab)
        if tied:
            self.decoder.weight = self.encoder.weight

    def forward(self, ids, state=None):
        out, state = self.rnn(self.encoder(ids), state)
        return self.decoder(out), state


def initial_state(cell, layers, batch, hidden, seed):
    g = torch.Generator().manual_seed(seed)
    h0 = 0.5 * torch.randn(layers, batch, hidden, generator=g, dtype=torch.float64)
    c0 = 0.5 * torch.randn(layers, batch, hidden, generator=g, dtype=torch.float64)
    return h0, c0


def run(model, cell, ids, h0, c0):
    """float64 forward; returns logits (N,T,V), h_n (L,N,H), c_n or None."""
    model = model.double().eval()
    with torch.no_grad():
        state = (h0, c0) if cell == "lstm" else h0
        logits, st = model(torch.tensor(ids, dtype=torch.long), state)
    if cell == "lstm":
        return logits, st[0], st[1]
    return logits, st, None


def expected_json(path, logits, hn, cn, h0, c0):
    doc = {
        "ids": IDS,
        "h0": h0.flatten().tolist(),
        "c0": c0.flatten().tolist() if c0 is not None else None,
        "logits_shape": list(logits.shape),
        "logits": logits.flatten().tolist(),
        "h_n": hn.flatten().tolist(),
        "c_n": cn.flatten().tolist() if cn is not None else None,
        "torch_version": torch.__version__,
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f)
        f.write("\n")


def torch_to_unroll():
    for i, (name, cell, V, E, H, L, tied) in enumerate(CASES):
        torch.manual_seed(1000 + i)
        model = LM(cell, V, E, H, L, tied)
        sd = {k: v for k, v in model.state_dict().items()}
        st_save(sd, os.path.join(FIXTURES, f"torch_{name}.safetensors"))
        config = {"format": "unroll-lm-pytorch", "cell": cell, "vocab_size": V, "embed_size": E,
                  "hidden_size": H, "num_layers": L, "tied": tied}
        with open(os.path.join(FIXTURES, f"torch_{name}.config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
        h0, c0 = initial_state(cell, L, len(IDS), H, 2000 + i)
        logits, hn, cn = run(model, cell, IDS, h0, c0 if cell == "lstm" else None)
        expected_json(os.path.join(FIXTURES, f"torch_{name}.expected.json"), logits, hn, cn,
                      h0, c0 if cell == "lstm" else None)
        print(f"torch_{name}: {sorted(sd)}")


def unroll_to_torch():
    shim = install_safetensors_shim()
    ns = doc_snippet()
    load_unroll_lm = ns["load_unroll_lm"]
    print(f"loading Unroll exports with the docs/interop.md snippet ({shim})")
    for i, (name, cell, V, E, H, L, tied) in enumerate(CASES):
        st = os.path.join(FIXTURES, f"unroll_{name}.safetensors")
        if not os.path.exists(st):
            print(f"skip unroll_{name}: {st} not generated yet (run the C# generator first)")
            continue
        model, config = load_unroll_lm(st, os.path.join(FIXTURES, f"unroll_{name}.config.json"))
        cell = config["cell"]
        h0, c0 = initial_state(cell, config["num_layers"], len(IDS), config["hidden_size"], 3000 + i)
        logits, hn, cn = run(model, cell, IDS, h0, c0 if cell == "lstm" else None)
        expected_json(os.path.join(FIXTURES, f"unroll_{name}.expected.json"), logits, hn, cn,
                      h0, c0 if cell == "lstm" else None)
        print(f"unroll_{name}: logits {list(logits.shape)}")


def check_export(export_dir, name):
    """Loads EXPORT_DIR/model.safetensors + config.json with the docs snippet and compares its logits with the
    PyTorch model of fixture `name` (e.g. after `unroll import` of torch_<name> and `unroll export`)."""
    install_safetensors_shim()
    load_unroll_lm = doc_snippet()["load_unroll_lm"]
    model, config = load_unroll_lm(os.path.join(export_dir, "model.safetensors"), os.path.join(export_dir, "config.json"))
    _, cell, V, E, H, L, tied = next(c for c in CASES if c[0] == name)
    ref = LM(cell, V, E, H, L, tied)
    ref.load_state_dict(st_load(os.path.join(FIXTURES, f"torch_{name}.safetensors")))
    ids = torch.tensor(IDS, dtype=torch.long)
    with torch.no_grad():
        d = (model.eval()(ids)[0] - ref.eval()(ids)[0]).abs().max().item()
    print(f"{export_dir} vs torch_{name}: max |dlogits| = {d:.3g}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["torch", "unroll"])
    ap.add_argument("--check-export", nargs=2, metavar=("EXPORT_DIR", "FIXTURE_NAME"),
                    help="compare an `unroll export` directory with the PyTorch fixture model FIXTURE_NAME")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.check_export:
        check_export(*args.check_export)
        return
    os.makedirs(FIXTURES, exist_ok=True)
    if args.only in (None, "torch"):
        torch_to_unroll()
    if args.only in (None, "unroll"):
        unroll_to_torch()


if __name__ == "__main__":
    main()
