#!/usr/bin/python3
"""Golden values from PyTorch for Unroll's parity tests (issue 2 §8; format reused by interop, issue 8).

Run from the repository root with Debian's torch:   /usr/bin/python3 bench/reference/make_parity_fixtures.py
Writes tests/Unroll.Tests/Fixtures/parity/<case>.json and prints one summary line per case.
Deterministic: every case seeds torch with its own fixed seed; all tensors are float32 on the CPU.

Fixture format ("unroll-torch-fixture", version 1) — one JSON object:
  format, version, name            identification
  generator                        {script, torch, seed}
  config                           the module's configuration (PyTorch argument names) + N, T, gate order
  params  {name: tensor}           every weight under PyTorch's state_dict names and layouts
                                   (weight_ih_l{k} [kH x D], weight_hh_l{k} [kH x H], bias_ih_l{k}, bias_hh_l{k};
                                   for language models: encoder.weight [V x E], rnn.*, decoder.weight [V x H],
                                   decoder.bias [V])
  inputs  {name: tensor}           x (N,T,D) batch_first, h0/c0 (L,N,H), upstream gradients dout (N,T,H), dhn (N,H);
                                   language models: ids, targets (int64, (N,T))
  outputs {name: tensor}           out (N,T,H), hn, cn (L,N,H), loss (shape []); language models: logits (N,T,V)
  grads   {name: tensor}           d loss / d <name> for every input and every param (same names, same layouts)
A tensor is {"dtype": "float32"|"int64", "shape": [...], "data": [flat, row-major]}. float32 values are written
as their shortest decimal that round-trips to the same float32 (numpy's str), so parsing each number directly
as float32 gives back the exact bits (checked below before writing).

Recurrent cases use the random-upstream loss  L = sum(out * dout) + sum(hn[L-1] * dhn)  (dhn: (N,H), the top
layer's final state only), so grads are exactly the backward pass of the module given those upstream gradients.
The loss reaches the final state only through the top layer's h (= out[:, T-1]), as a layer or stack's
Backward(dhs) can express it; cn has no upstream gradient (it is still compared as an output).
Truncated-BPTT cases (config.chunks = 2): x_prev/out_prev are chunk 0, x/out/hn/cn/dout/dhn chunk 1, which starts
from chunk 0's final state detached; grads h_carried/c_carried are d loss / d that carried state.
Language-model cases: Embedding -> RNN/LSTM/GRU (zero initial state) -> Linear -> CrossEntropyLoss
(mean over all N*T positions), loss = that mean.
"""
import json
import os
import sys

import numpy as np
import torch

SCRIPT = "bench/reference/make_parity_fixtures.py"
OUT_DIR = os.path.join("tests", "Unroll.Tests", "Fixtures", "parity")
GATES = {"RNN_TANH": "", "RNN_RELU": "", "LSTM": "i,f,g,o", "GRU": "r,z,n"}


def f32_text(v):
    s = str(np.float32(v))
    if not np.isfinite(np.float32(v)):
        raise ValueError(f"non-finite value {s}")
    if np.float32(s).tobytes() != np.float32(v).tobytes():  # exact round trip of the bits
        raise ValueError(f"{s} does not round-trip {v!r}")
    return s


def tensor_json(t):
    a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    if a.dtype == np.float32:
        data = ",".join(f32_text(v) for v in a.reshape(-1))
        dtype = "float32"
    elif a.dtype in (np.int64, np.int32):
        data = ",".join(str(int(v)) for v in a.reshape(-1))
        dtype = "int64"
    else:
        raise TypeError(f"unsupported dtype {a.dtype}")
    return '{"dtype":"%s","shape":%s,"data":[%s]}' % (dtype, json.dumps(list(a.shape)), data)


def write_fixture(name, seed, config, params, inputs, outputs, grads):
    head = {
        "format": "unroll-torch-fixture",
        "version": 1,
        "name": name,
        "generator": {"script": SCRIPT, "torch": torch.__version__, "seed": seed},
        "config": config,
    }
    lines = ["{"]
    for k, v in head.items():
        lines.append("  %s: %s," % (json.dumps(k), json.dumps(v)))
    groups = [("params", params), ("inputs", inputs), ("outputs", outputs), ("grads", grads)]
    for gi, (gname, group) in enumerate(groups):
        lines.append('  "%s": {' % gname)
        items = list(group.items())
        for i, (k, t) in enumerate(items):
            lines.append("    %s: %s%s" % (json.dumps(k), tensor_json(t), "," if i + 1 < len(items) else ""))
        lines.append("  }" + ("," if gi + 1 < len(groups) else ""))
    lines.append("}")
    text = "\n".join(lines) + "\n"
    json.loads(text)  # well-formed
    path = os.path.join(OUT_DIR, name + ".json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path, len(text)


def make_module(mode, D, H, L):
    if mode == "LSTM":
        return torch.nn.LSTM(D, H, num_layers=L, batch_first=True)
    if mode == "GRU":
        return torch.nn.GRU(D, H, num_layers=L, batch_first=True)
    nl = "tanh" if mode == "RNN_TANH" else "relu"
    return torch.nn.RNN(D, H, num_layers=L, nonlinearity=nl, batch_first=True)


def recurrent_case(name, seed, mode, N, T, D, H, L=1, x_scale=1.0):
    torch.manual_seed(seed)
    m = make_module(mode, D, H, L).float()
    x = (torch.randn(N, T, D) * x_scale).requires_grad_()
    h0 = torch.randn(L, N, H).requires_grad_()
    lstm = mode == "LSTM"
    c0 = torch.randn(L, N, H).requires_grad_() if lstm else None
    dout = torch.randn(N, T, H)
    dhn = torch.randn(N, H)

    if lstm:
        out, (hn, cn) = m(x, (h0, c0))
    else:
        out, hn = m(x, h0)
    loss = (out * dout).sum() + (hn[L - 1] * dhn).sum()
    loss.backward()

    params = {k: p for k, p in m.named_parameters()}
    inputs = {"x": x, "h0": h0}
    if lstm:
        inputs["c0"] = c0
    inputs["dout"] = dout
    inputs["dhn"] = dhn
    outputs = {"out": out, "hn": hn}
    if lstm:
        outputs["cn"] = cn
    outputs["loss"] = loss
    grads = {"x": x.grad, "h0": h0.grad}
    if lstm:
        grads["c0"] = c0.grad
    for k, p in params.items():
        grads[k] = p.grad
    config = {
        "module": type(m).__name__, "mode": mode, "input_size": D, "hidden_size": H, "num_layers": L,
        "bias": True, "batch_first": True, "bidirectional": False, "dropout": 0.0,
        "nonlinearity": {"RNN_TANH": "tanh", "RNN_RELU": "relu"}.get(mode),
        "gate_order": GATES[mode], "N": N, "T": T, "x_scale": x_scale,
        "loss": "sum(out*dout)+sum(hn[L-1]*dhn)",
    }
    return write_fixture(name, seed, config, params, inputs, outputs, grads)


def tbptt_case(name, seed, mode, N, T, D, H):
    """Truncated BPTT over two chunks: chunk 0 from random h0 (c0), chunk 1 from chunk 0's final state, detached
    (no gradient into chunk 0), loss on chunk 1 only. Names: x_prev/out_prev = chunk 0; x/out/hn/cn/dout/dhn =
    chunk 1; grads.h_carried / grads.c_carried = d loss / d (the state carried into chunk 1)."""
    torch.manual_seed(seed)
    m = make_module(mode, D, H, 1).float()
    lstm = mode == "LSTM"
    x_prev = torch.randn(N, T, D)
    x = torch.randn(N, T, D).requires_grad_()
    h0 = torch.randn(1, N, H)
    c0 = torch.randn(1, N, H) if lstm else None
    dout = torch.randn(N, T, H)
    dhn = torch.randn(N, H)
    if lstm:
        out_prev, (h1, c1) = m(x_prev, (h0, c0))
        hc = h1.detach().requires_grad_()
        cc = c1.detach().requires_grad_()
        out, (hn, cn) = m(x, (hc, cc))
    else:
        out_prev, h1 = m(x_prev, h0)
        hc = h1.detach().requires_grad_()
        cc = None
        out, hn = m(x, hc)
    loss = (out * dout).sum() + (hn[0] * dhn).sum()
    loss.backward()
    params = {k: p for k, p in m.named_parameters()}
    inputs = {"x_prev": x_prev, "x": x, "h0": h0}
    if lstm:
        inputs["c0"] = c0
    inputs["dout"] = dout
    inputs["dhn"] = dhn
    outputs = {"out_prev": out_prev, "out": out, "hn": hn}
    if lstm:
        outputs["cn"] = cn
    outputs["loss"] = loss
    grads = {"x": x.grad, "h_carried": hc.grad}
    if lstm:
        grads["c_carried"] = cc.grad
    for k, p in params.items():
        grads[k] = p.grad
    config = {
        "module": type(m).__name__, "mode": mode, "input_size": D, "hidden_size": H, "num_layers": 1,
        "bias": True, "batch_first": True, "bidirectional": False, "dropout": 0.0, "nonlinearity": None,
        "gate_order": GATES[mode], "N": N, "T": T, "x_scale": 1.0, "chunks": 2,
        "loss": "chunk 1 only: sum(out*dout)+sum(hn[L-1]*dhn); chunk 1 starts from chunk 0's final state, detached",
    }
    return write_fixture(name, seed, config, params, inputs, outputs, grads)


class LM(torch.nn.Module):
    def __init__(self, mode, V, E, H, L):
        super().__init__()
        self.encoder = torch.nn.Embedding(V, E)
        self.rnn = make_module(mode, E, H, L)
        self.decoder = torch.nn.Linear(H, V)

    def forward(self, ids):
        out, _ = self.rnn(self.encoder(ids))
        return self.decoder(out)


def lm_case(name, seed, mode, V, E, H, N, T, L=1):
    torch.manual_seed(seed)
    m = LM(mode, V, E, H, L).float()
    ids = torch.randint(0, V, (N, T), dtype=torch.int64)
    targets = torch.randint(0, V, (N, T), dtype=torch.int64)
    logits = m(ids)
    loss = torch.nn.functional.cross_entropy(logits.reshape(N * T, V), targets.reshape(N * T), reduction="mean")
    loss.backward()
    params = {k: p for k, p in m.named_parameters()}
    grads = {k: p.grad for k, p in params.items()}
    config = {
        "module": "LM", "mode": mode, "vocab_size": V, "embedding_size": E, "hidden_size": H, "num_layers": L,
        "bias": True, "batch_first": True, "nonlinearity": {"RNN_TANH": "tanh", "RNN_RELU": "relu"}.get(mode),
        "gate_order": GATES[mode], "N": N, "T": T, "initial_state": "zeros",
        "loss": "CrossEntropyLoss(reduction=mean) over N*T",
    }
    return write_fixture(name, seed, config, params, {"ids": ids, "targets": targets},
                         {"logits": logits, "loss": loss}, grads)


def main():
    if not os.path.isdir(os.path.join("tests", "Unroll.Tests")):
        sys.exit("run from the repository root")
    os.makedirs(OUT_DIR, exist_ok=True)
    torch.set_num_threads(1)
    cases = [
        ("rnn_tanh", 1000, lambda n, s: recurrent_case(n, s, "RNN_TANH", 3, 5, 4, 6)),
        ("rnn_relu", 1001, lambda n, s: recurrent_case(n, s, "RNN_RELU", 3, 5, 4, 6)),
        ("lstm", 1002, lambda n, s: recurrent_case(n, s, "LSTM", 3, 5, 4, 6)),
        ("gru", 1003, lambda n, s: recurrent_case(n, s, "GRU", 3, 5, 4, 6)),
        ("lstm_2layer", 1004, lambda n, s: recurrent_case(n, s, "LSTM", 3, 5, 4, 6, L=2)),
        # size 1 everywhere, and saturated inputs (|x| of order 20)
        ("lstm_size1", 1005, lambda n, s: recurrent_case(n, s, "LSTM", 1, 1, 1, 1)),
        ("gru_size1", 1006, lambda n, s: recurrent_case(n, s, "GRU", 1, 1, 1, 1)),
        ("lstm_saturated", 1007, lambda n, s: recurrent_case(n, s, "LSTM", 2, 7, 3, 5, x_scale=20.0)),
        ("gru_saturated", 1008, lambda n, s: recurrent_case(n, s, "GRU", 2, 7, 3, 5, x_scale=20.0)),
        ("rnn_tanh_saturated", 1009, lambda n, s: recurrent_case(n, s, "RNN_TANH", 2, 7, 3, 5, x_scale=20.0)),
        # truncated BPTT: state carried from one chunk to the next, gradient cut (a stateful layer)
        ("tbptt_lstm", 1020, lambda n, s: tbptt_case(n, s, "LSTM", 3, 4, 4, 6)),
        ("tbptt_gru", 1021, lambda n, s: tbptt_case(n, s, "GRU", 3, 4, 4, 6)),
        # Embedding -> recurrent -> Linear -> CrossEntropyLoss (V=11, E=5, H=6, N=3, T=5)
        ("lm_lstm", 1010, lambda n, s: lm_case(n, s, "LSTM", 11, 5, 6, 3, 5)),
        ("lm_gru", 1011, lambda n, s: lm_case(n, s, "GRU", 11, 5, 6, 3, 5)),
        ("lm_rnn_tanh", 1012, lambda n, s: lm_case(n, s, "RNN_TANH", 11, 5, 6, 3, 5)),
    ]
    # each case has its own fixed seed, so adding a case never changes the others
    assert len({seed for _, seed, _ in cases}) == len(cases)
    total = 0
    for name, seed, make in cases:
        path, size = make(name, seed)
        total += size
        print(f"{name:20s} seed={seed} {size:6d} bytes -> {path}")
    print(f"wrote {len(cases)} fixtures, {total} bytes, torch {torch.__version__}")


if __name__ == "__main__":
    main()
