#!/usr/bin/env python3
"""faiss-cpu on the global descriptors that `duskmatch embed --global --out STEM` wrote: flat
(exact inner product) and HNSW (M = 32, efConstruction = 200, as duskmatch's index), the
queries (rows not of the day database) searched one at a time, recall@K against flat search,
for each efSearch. Prints one JSON line per efSearch, to set beside
`duskmatch bench --ann STEM --k K --ef ...` on the same machine.

  pip install faiss-cpu numpy
  python3 bench/faiss_hnsw.py STEM --threads 2 --k 100 --ef 64,128,256,512
"""
import argparse
import json
import os
import time

import faiss
import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument("stem")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--ef", default="16,32,64,128,256,512")
    a = p.parse_args()
    faiss.omp_set_num_threads(a.threads)
    x = np.load(a.stem + ".npy").astype(np.float32)
    with open(a.stem + ".json") as f:
        items = json.load(f)["items"]
    day = np.array([it["domain"] == "day" for it in items])
    db, q = np.ascontiguousarray(x[day]), np.ascontiguousarray(x[~day])
    flat = faiss.IndexFlatIP(db.shape[1])
    flat.add(db)
    t0 = time.perf_counter()
    _, truth = flat.search(q, a.k)
    flat_ms = (time.perf_counter() - t0) * 1000 / len(q)
    t0 = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(db.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 200
    hnsw.add(db)
    build_s = time.perf_counter() - t0
    for ef in [int(e) for e in a.ef.split(",")]:
        hnsw.hnsw.efSearch = ef
        found = []
        t0 = time.perf_counter()
        for i in range(len(q)):
            _, ids = hnsw.search(q[i : i + 1], a.k)
            found.append(ids[0])
        ms = (time.perf_counter() - t0) * 1000 / len(q)
        hits = sum(len(set(f) & set(t)) for f, t in zip(found, truth))
        print(json.dumps({
            "impl": "faiss IndexHNSWFlat (M = 32, efConstruction = 200)",
            "faiss": faiss.__version__,
            "database": len(db),
            "queries": len(q),
            "dim": db.shape[1],
            "k": a.k,
            "ef_search": ef,
            "recall_at_k_vs_flat": round(hits / (len(q) * a.k), 4),
            "ms_per_query": round(ms, 3),
            "flat_ms_per_query_batched": round(flat_ms, 3),
            "build_s": round(build_s, 2),
            "threads": a.threads,
            "loadavg_1m": os.getloadavg()[0],
        }))


if __name__ == "__main__":
    main()
