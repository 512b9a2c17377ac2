#!/usr/bin/python3
"""NumPy reference for `unroll gradient-flow --wh`: the textbook seed experiment, written the textbook's way.

    dh = ones(N, H); repeat T times: dh = dot(dh, Wh.T); norm = sqrt(sum(dh**2)) / N

Writes, under tests/Unroll.Tests/Fixtures/flow/:
  wh_f64.npy   W_h = randn(H, H) * scale (numpy's own .npy writer, float64, C order)
  wh_f32.npy   the same W_h rounded to float32 (numpy's writer)
  seed_numpy.json  {"n", "t", "h", "scale", "norms_f64": [...], "norms_f32": [...]}  (norms after k = 0..T steps)
Run: /usr/bin/python3 bench/reference/gradient_flow_seed.py
"""
import json, os
import numpy as np

N, H, T, SCALE, SEED = 2, 3, 20, 0.5, 3
out = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "Unroll.Tests", "Fixtures", "flow")
os.makedirs(out, exist_ok=True)

np.random.seed(SEED)
Wh = np.random.randn(H, H) * SCALE


def norms(w):
    dh = np.ones((N, H))
    result = [float(np.sqrt(np.sum(dh ** 2)) / N)]
    for _ in range(T):
        dh = np.dot(dh, w.T)
        result.append(float(np.sqrt(np.sum(dh ** 2)) / N))
    return result


np.save(os.path.join(out, "wh_f64.npy"), Wh)
w32 = Wh.astype(np.float32)
np.save(os.path.join(out, "wh_f32.npy"), w32)
with open(os.path.join(out, "seed_numpy.json"), "w") as f:
    json.dump({"n": N, "t": T, "h": H, "scale": SCALE, "seed": SEED,
               "norms_f64": norms(Wh), "norms_f32": norms(w32.astype(np.float64))}, f, indent=1)
print("wrote", out)
