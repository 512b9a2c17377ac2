#!/usr/bin/python3
"""numpy float32 GEMM timing, called by `dotnet run -c Release --project bench/Unroll.Bench -- gemm`.

Usage: numpy_gemm.py M K N OP REPS MIN_SECONDS
  OP is NN, NT or TN (which operand is transposed, as views: numpy passes the transpose flag to BLAS).
Prints one JSON object: per-repetition GFLOP/s, their median, and which BLAS library / core numpy uses
(openblas_get_corename() of the libopenblas loaded into this process, when it is OpenBLAS).
"""
import ctypes
import json
import statistics
import sys
import time

import numpy as np


def blas_info():
    paths = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1]
                if "blas" in p.lower() and p.startswith("/"):
                    paths.add(p)
    except OSError:
        pass
    info = {"libraries": sorted(paths), "core": None, "config": None}
    for p in sorted(paths):
        try:
            lib = ctypes.CDLL(p)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            lib.openblas_get_config.restype = ctypes.c_char_p
            info["core"] = lib.openblas_get_corename().decode()
            info["config"] = lib.openblas_get_config().decode().strip()
            break
        except (OSError, AttributeError):
            continue
    return info


def main():
    m, k, n = (int(x) for x in sys.argv[1:4])
    op = sys.argv[4]
    reps = int(sys.argv[5])
    min_s = float(sys.argv[6])
    rng = np.random.default_rng(1)
    a = rng.uniform(-1, 1, (k, m) if op == "TN" else (m, k)).astype(np.float32)
    b = rng.uniform(-1, 1, (n, k) if op == "NT" else (k, n)).astype(np.float32)
    A = a.T if op == "TN" else a
    B = b.T if op == "NT" else b
    c = np.empty((m, n), dtype=np.float32)
    np.matmul(A, B, out=c)
    t0 = time.perf_counter()
    np.matmul(A, B, out=c)
    one = max(time.perf_counter() - t0, 1e-7)
    iters = max(1, int(min_s / one))
    flops = 2.0 * m * n * k
    g = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(iters):
            np.matmul(A, B, out=c)
        g.append(flops * iters / (time.perf_counter() - t0) / 1e9)
    print(json.dumps({"numpy": np.__version__, "gflops": g, "median": statistics.median(g), **blas_info()}))


if __name__ == "__main__":
    main()
