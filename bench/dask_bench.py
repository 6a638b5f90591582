"""``python -m bench --dask``: the kinetics Jacobian over Dask (issue 17).

``jit(vmap(jacfwd(rhs)))`` of the kinetics workload at B rows (default 10^6), timed three
ways on the cpu, every process with ``--threads`` threads (default 1):

- the single-process jit, in this process: the same chunks one after another (one call
  on the whole batch would trace at B rows, and the jit's trace evaluates every
  intermediate at full size: (B, 20, 60) tangents are 9 GB at 10^6);
- ``gpuad.dask.map_batches`` on a ``LocalCluster`` of 1 and of 2 worker processes,
  ``--dask-chunks`` chunks (default 8);
- the scheduler overhead per chunk: 1 worker (1 thread) at several chunk sizes. Its tasks
  run one after another, so the run's wall time minus the time its tasks spent computing
  (Dask's task stream) is what Dask adds: scheduling, messages, the worker's bookkeeping.
  Divided by the number of chunks, against the chunk size. The same jit call timed in this
  process (its results kept, as a worker keeps them) is printed beside the task's compute
  time.

The input is made on the workers and persisted before timing, and the Jacobians are
persisted on the workers (``client.persist`` + ``wait``), not gathered: that is a
pipeline's next stage reading them where they are, and gathering 8 B x 400 bytes to one
process would time the network, not gpuad. Every timed run was preceded by a run of the
same chunk shape, so the workers' jit plans are warm (``gpuad.dask.cache_info`` says how
often each worker traced). The single process, 1 worker and 2 workers run in alternating
rounds (``--dask-repeats`` of them after a warm-up), so that the drifting load of a shared
machine weighs on each alike; the figures are medians.

Throughput is Jacobians per second; scaling efficiency is the cluster's throughput over
n x the single process's (1.0: n workers are n times one process).
"""
from __future__ import annotations

import os
import statistics
import sys
import time

SIZES = (1_000, 10_000, 100_000)  # chunk sizes of the overhead sweep


def _input_chunk(block_id, rows, B, run):
    from bench.workloads import kinetics
    j = block_id[0]
    n = min(rows, B - j * rows)
    return kinetics.make_input(n, seed=1000 * run + j)


def _inputs(da, B, rows, run=1):
    """The kinetics input as a dask array made on the workers, chunk j from seed
    1000 * run + j: each run has its own keys, so no run finds another's results."""
    import numpy as np
    n = -(-B // rows)
    chunks = (tuple(min(rows, B - j * rows) for j in range(n)), (20,))
    return da.map_blocks(_input_chunk, rows=rows, B=B, run=run, chunks=chunks,
                         dtype=np.float64, meta=np.empty((0, 0)))


def _local_input(B, rows):
    import numpy as np
    from bench.workloads import kinetics
    n = -(-B // rows)
    return np.concatenate([kinetics.make_input(min(rows, B - j * rows), seed=1000 + j)
                           for j in range(n)])  # run 1's input


def _cluster_once(client, gdask, f, da, B, rows, run, wait):
    """Seconds to compute every chunk's Jacobian and hold it on the workers, and the seconds
    the workers spent inside ``map_batches``' tasks (Dask's task stream). The input is made
    and held on the workers first, untimed; ``run`` gives it keys of its own."""
    from distributed import get_task_stream
    with client.as_current():  # two clusters live side by side: say which one
        Y = client.persist(_inputs(da, B, rows, run))
        wait(Y)
        J = gdask.map_batches(f, Y)
        with get_task_stream(client) as ts:
            t0 = time.perf_counter()
            p = client.persist(J)
            wait(p)
            t = time.perf_counter() - t0
    busy = sum(stop - start for task in ts.data if "gpuad-map-batches" in str(task["key"])
               for action, start, stop in _startstops(task) if action == "compute")
    del Y, J, p
    return t, busy


def _startstops(task):
    for ss in task["startstops"]:
        yield (ss["action"], ss["start"], ss["stop"]) if isinstance(ss, dict) else ss


def main(args) -> int:
    import dask.array as da
    import numpy as np
    from distributed import Client, LocalCluster, wait

    import gpuad as ad
    import gpuad.dask as gdask
    from bench.workloads import kinetics

    B = int(args.dask_batch)
    n_chunks = int(args.dask_chunks)
    repeats = int(args.dask_repeats)
    threads = int(args.threads)
    rows = -(-B // n_chunks)
    rhs = kinetics.gpuad_fn(ad, device="cpu")
    f = ad.jit(ad.vmap(ad.jacfwd(rhs)))
    print(f"bench --dask: kinetics jit(vmap(jacfwd)) on cpu, B = {B:,}, {threads} thread(s) per "
          f"process, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}", flush=True)

    # The jit traces at the size it is called with, evaluating every intermediate: one call
    # on 10^6 rows would hold (10^6, 20, 60) tangents, 9 GB. So the single process runs
    # the same chunks as the cluster, one after another, and keeps every result, as the
    # workers do.
    y = _local_input(B, rows)
    parts = [ad.tensor(y[i:i + rows], device="cpu") for i in range(0, B, rows)]
    for p in {p.shape: p for p in parts}.values():
        f(p)  # trace and compile each chunk shape
    ref_row = f(parts[0][:3]).numpy()
    del y

    def single_run():
        t0 = time.perf_counter()
        out = [f(p) for p in parts]
        t = time.perf_counter() - t0
        del out
        return t

    def call_run(ys, n):  # n calls on one chunk, results kept as a worker keeps them
        t0 = time.perf_counter()
        out = [f(ys) for _ in range(n)]
        t = time.perf_counter() - t0
        del out
        return t / n

    rep = {"batch": B, "threads": threads, "clusters": [], "overhead": [], "repeats": repeats}
    sizes = sorted(set([s for s in SIZES if s < B] + [rows]))
    with LocalCluster(n_workers=1, processes=True, threads_per_worker=1, dashboard_address=":0",
                      silence_logs=40) as c1, Client(c1, set_as_default=False) as one, \
            LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                         dashboard_address=":0", silence_logs=40) as c2, \
            Client(c2, set_as_default=False) as two:
        for client in (one, two):
            check = client.compute(gdask.map_batches(f, _inputs(da, B, rows)[:3])).result()
            if not np.allclose(check, ref_row, rtol=1e-13, atol=1e-13):
                print("bench --dask: MISMATCH between the cluster and the single process",
                      file=sys.stderr)
                return 1
        # Rounds: the single process, then 1 worker, then 2, again and again, so that the
        # drifting load of a shared machine weighs on each alike; round 0 is a warm-up
        # (each worker traces the chunk shape). Medians over the other rounds.
        times = {"single": [], 1: [], 2: []}
        loads = []
        for r in range(repeats + 1):
            ts = (single_run(), _cluster_once(one, gdask, f, da, B, rows, r + 1, wait)[0],
                  _cluster_once(two, gdask, f, da, B, rows, r + 1, wait)[0])
            loads.append(os.getloadavg()[0])
            print(f"round {r}{' (warm-up)' if r == 0 else ''}: single process {ts[0]:.3f} s, "
                  f"1 worker {ts[1]:.3f} s, 2 workers {ts[2]:.3f} s, load average "
                  f"{loads[-1]:.2f}", flush=True)
            if r:
                for key, t in zip(("single", 1, 2), ts):
                    times[key].append(t)
        single = statistics.median(times["single"])
        rep["single_s"] = single
        rep["loads"] = loads[1:]
        for workers in (1, 2):
            t = statistics.median(times[workers])
            rep["clusters"].append({"workers": workers, "chunks": n_chunks, "rows": rows,
                                    "median_s": t, "best_s": min(times[workers]),
                                    "efficiency": (B / t) / (workers * B / single)})
        # Dask's cost per chunk against the chunk size, on 1 worker with 1 thread: its tasks
        # run one after another, so the run's wall time that no task was computing is what
        # Dask adds; the in-process call of the same size alternates with it.
        for s in sizes:
            ys = ad.tensor(kinetics.make_input(s), device="cpu")
            f(ys)
            n = -(-B // s)
            calls, runs = [], []
            for r in range(repeats + 1):
                calls.append(call_run(ys, max(3, min(50, n))))
                runs.append(_cluster_once(one, gdask, f, da, B, s, 100 + r, wait))
            call = statistics.median(calls[1:])
            t, busy = sorted(runs[1:])[len(runs[1:]) // 2]
            over = (t - busy) / n
            rep["overhead"].append({"rows": s, "chunks": n, "cluster_s": t,
                                    "task_ms": busy / n * 1e3, "call_ms": call * 1e3,
                                    "overhead_ms": over * 1e3, "share": over / (t / n),
                                    "total_ms": (t / n - call) * 1e3})
            print(f"1 worker, chunks of {s:,} ({n} tasks): {t:.3f} s; a task computes "
                  f"{busy / n * 1e3:.2f} ms (the same call here: {call * 1e3:.2f} ms); gaps "
                  f"between tasks {over * 1e3:.2f} ms per chunk ({100 * over / (t / n):.0f}% of "
                  f"the run)", flush=True)
        traces = [sum(e["trace_count"] or 0 for e in v)
                  for c in (one, two) for v in c.run(gdask.cache_info).values()]
        print(f"jit traces per worker (1-worker cluster, then the 2): {traces}")
    print()
    print(format_markdown(rep))
    return 0


def format_markdown(rep) -> str:
    B, single = rep["batch"], rep["single_s"]
    c0 = rep["clusters"][0]
    lines = [f"Medians of {rep['repeats']} rounds; load average "
             f"{min(rep['loads']):.1f}-{max(rep['loads']):.1f} during them.", "",
             "| run | time | Jacobians/s | scaling efficiency |", "|---|---|---|---|",
             f"| single-process jit, {c0['chunks']} calls of {c0['rows']:,} rows | {single:.3f} s | "
             f"{B / single:,.0f} | - |"]
    for c in rep["clusters"]:
        lines.append(f"| {c['workers']} worker process{'es' if c['workers'] > 1 else ''}, "
                     f"{c['chunks']} chunks of {c['rows']:,} | {c['median_s']:.3f} s | "
                     f"{B / c['median_s']:,.0f} | {c['efficiency']:.2f} |")
    lines += ["", "| chunk rows | tasks | 1 worker | task compute | same call in one process | "
                  "gaps between tasks, per chunk | their share of the run | run per chunk - "
                  "call in one process |", "|---|---|---|---|---|---|---|---|"]
    for o in rep["overhead"]:
        lines.append(f"| {o['rows']:,} | {o['chunks']} | {o['cluster_s']:.3f} s | "
                     f"{o['task_ms']:.2f} ms | {o['call_ms']:.2f} ms | {o['overhead_ms']:.2f} ms | "
                     f"{100 * o['share']:.0f}% | {o['total_ms']:.2f} ms |")
    return "\n".join(lines)
