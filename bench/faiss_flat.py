#!/usr/bin/env python3
"""faiss-cpu flat (exact L2) search on the vectors `duskmatch bench --retrieval ... --export DIR`
wrote, for a side-by-side with duskmatch's device-batched search. Prints one JSON line per size.

  pip install faiss-cpu numpy
  python3 bench/faiss_flat.py DIR --threads 2
"""
import argparse
import glob
import json
import os
import resource
import time

import faiss
import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    faiss.omp_set_num_threads(a.threads)
    q = np.load(os.path.join(a.dir, "queries.npy")).astype(np.float32)
    for path in sorted(glob.glob(os.path.join(a.dir, "db-*.npy")), key=lambda s: int(s.split("-")[-1][:-4])):
        db = np.load(path).astype(np.float32)
        index = faiss.IndexFlatL2(db.shape[1])
        index.add(db)
        index.search(q[:16], a.k)  # warm-up
        rates = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            _, ids = index.search(q, a.k)
            rates.append(len(q) / (time.perf_counter() - t0))
        rates.sort()
        ref = os.path.join(a.dir, f"ids-{db.shape[0]}.npy")
        agree = None
        if os.path.exists(ref):
            ours = np.load(ref).astype(np.int64)
            agree = float((ours[:, 0] == ids[:, 0]).mean())
        print(json.dumps({
            "impl": "faiss-cpu IndexFlatL2", "faiss": faiss.__version__, "threads": a.threads,
            "database": db.shape[0], "dim": db.shape[1], "queries": len(q), "k": a.k,
            "queries_per_s": round(rates[len(rates) // 2], 1),
            "top1_agreement_with_duskmatch": agree,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "loadavg_1m": round(os.getloadavg()[0], 2),
        }))


if __name__ == "__main__":
    main()
