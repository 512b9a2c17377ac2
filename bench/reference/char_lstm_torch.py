#!/usr/bin/env python3
"""PyTorch reference for `unroll train --task char`: the same data pipeline and recipe, for the acceptance check
in docs/results.md.

Same as Unroll: vocabulary = sorted distinct characters (code points); the last 10 % of the text is validation;
the textbook's batching (N streams at offsets i*floor(L/N), T steps per update, hidden state carried across updates
and reset at each epoch start); Embedding(V,64) -> 2-layer LSTM(256) -> Linear(256,V); mean cross-entropy over N*T;
clip_grad_norm_(5); Adam(lr 2e-3). Validation as Unroll's eval: 10 streams, windows of T, state carried through the
split, mean of the window losses. Initialisation is PyTorch's default (Unroll uses the textbook's), so the curves are
comparable but not identical.

Usage: /usr/bin/python3 bench/reference/char_lstm_torch.py TEXT --steps 2000 [--seed 1] [--threads 2]
Prints one JSON line: {"steps":..., "final_train_loss":..., "valid_loss":..., "valid_bpc":..., "seconds":...}
"""
import argparse, json, math, time
import torch
import torch.nn as nn

p = argparse.ArgumentParser()
p.add_argument("text"); p.add_argument("--steps", type=int, default=2000); p.add_argument("--seed", type=int, default=1)
p.add_argument("--batch", type=int, default=32); p.add_argument("--bptt", type=int, default=100)
p.add_argument("--embed", type=int, default=64); p.add_argument("--hidden", type=int, default=256); p.add_argument("--layers", type=int, default=2)
p.add_argument("--lr", type=float, default=2e-3); p.add_argument("--clip", type=float, default=5.0)
p.add_argument("--valid-fraction", type=float, default=0.1); p.add_argument("--threads", type=int, default=0)
a = p.parse_args()
torch.manual_seed(a.seed)
if a.threads: torch.set_num_threads(a.threads)

text = open(a.text, encoding="utf-8").read()
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
ids = [stoi[c] for c in text]
n_valid = round(len(ids) * a.valid_fraction)
train, valid = ids[:-n_valid], ids[-n_valid:]

def batches(corpus, n, t):
    """The textbook's get_batch: x[i,k] = xs[(offset_i + it*T + k) mod L], targets the next token."""
    L = len(corpus) - 1
    jump = L // n
    data = torch.tensor(corpus, dtype=torch.long)
    iters = L // (n * t)
    for it in range(iters):
        pos = (torch.arange(n).unsqueeze(1) * jump + it * t + torch.arange(t).unsqueeze(0)) % L
        yield data[pos], data[pos + 1]

class Model(nn.Module):
    def __init__(self, v):
        super().__init__()
        self.emb = nn.Embedding(v, a.embed)
        self.rnn = nn.LSTM(a.embed, a.hidden, a.layers, batch_first=True)
        self.out = nn.Linear(a.hidden, v)
    def forward(self, x, h):
        y, h = self.rnn(self.emb(x), h)
        return self.out(y), h

V = len(chars)
model = Model(V)
opt = torch.optim.Adam(model.parameters(), lr=a.lr)
lossf = nn.CrossEntropyLoss()

def evaluate(corpus):
    model.eval()
    t = min(a.bptt, len(corpus) - 1)
    n = max(1, min(10, (len(corpus) - 1) // t))
    total, k, h = 0.0, 0, None
    with torch.no_grad():
        for x, y in batches(corpus, n, t):
            logits, h = model(x, h)
            total += lossf(logits.reshape(-1, V), y.reshape(-1)).item(); k += 1
    model.train()
    return total / k

start = time.time()
step, last = 0, float("nan")
while step < a.steps:
    h = None                                     # state reset at each epoch start
    for x, y in batches(train, a.batch, a.bptt):
        if step >= a.steps: break
        if h is not None: h = tuple(s.detach() for s in h)
        logits, h = model(x, h)
        loss = lossf(logits.reshape(-1, V), y.reshape(-1))
        opt.zero_grad(); loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        opt.step()
        last = loss.item(); step += 1
        if step % 100 == 0: print(f"step {step} loss {last:.4f}", flush=True)
train_s = time.time() - start
vl = evaluate(valid)
print(json.dumps({"steps": step, "final_train_loss": last, "valid_loss": vl, "valid_bpc": vl / math.log(2),
                  "train_seconds": round(train_s, 1), "threads": torch.get_num_threads()}))
