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
often each worker traced). Times are the best of ``--dask-repeats``; the single process is
timed before and after the clusters, and its best run counts (the load of a shared
machine drifts).

Throughput is Jacobians per second; scaling efficiency is the cluster's throughput over
n x the single process's (1.0: n workers are n times one process).
"""
from __future__ import annotations

import os
import statistics
import sys
import time

SIZES = (1_000, 10_000, 100_000)  # chunk sizes of the overhead sweep


def _timed(run, repeats):  # the single process
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


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


def _cluster_run(client, gdask, f, da, B, rows, repeats, wait):
    """The best run's seconds to compute every chunk's Jacobian and hold it on the workers,
    the median run's, and the best run's task compute seconds (summed over its chunks, from
    Dask's task stream: the time the workers spent inside ``map_batches``' tasks). The
    input is made and held on the workers first, untimed."""
    from distributed import get_task_stream
    runs = []
    for run in range(1, repeats + 2):  # the first is a warm-up: each worker traces this shape
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
        if run > 1:
            runs.append((t, busy))
        del Y, J, p
    best = min(runs)
    return best[0], statistics.median(r[0] for r in runs), best[1]


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

    # -- single process ------------------------------------------------------------------------
    # The jit traces at the size it is called with, evaluating every intermediate: one call
    # on 10^6 rows would hold (10^6, 20, 60) tangents, 9 GB. So the single process runs
    # the same chunks as the cluster, one after another, and keeps every result, as the
    # workers do.
    y = _local_input(B, rows)
    parts = [ad.tensor(y[i:i + rows], device="cpu") for i in range(0, B, rows)]
    for p in {p.shape: p for p in parts}.values():
        f(p)  # trace and compile each chunk shape

    def single_run():
        return [f(p) for p in parts]
    single, single_med = _timed(single_run, repeats)
    ref_row = f(parts[0][:3]).numpy()
    per_call = {}
    sizes = [s for s in SIZES if s < B] + [rows]
    for s in sorted(set(sizes)):
        ys = ad.tensor(kinetics.make_input(s), device="cpu")
        f(ys)
        n = max(3, min(50, B // s))  # results kept, as a worker keeps them: fresh memory
        per_call[s] = _timed(lambda: [f(ys) for _ in range(n)], 2)[0] / n
    rep = {"batch": B, "threads": threads, "single_s": single, "single_median_s": single_med,
           "clusters": [], "overhead": []}
    print(f"single-process jit, {n_chunks} calls of {rows:,} rows: {single:.3f} s "
          f"({B / single:,.0f} Jacobians/s)", flush=True)

    # -- clusters --------------------------------------------------------------------------------
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, processes=True, threads_per_worker=1,
                          dashboard_address=None, silence_logs=40) as cluster, \
                Client(cluster) as client:
            check = gdask.map_batches(f, _inputs(da, B, rows)[:3]).compute()
            if not np.allclose(check, ref_row, rtol=1e-13, atol=1e-13):
                print("bench --dask: MISMATCH between the cluster and the single process",
                      file=sys.stderr)
                return 1
            best, med, _ = _cluster_run(client, gdask, f, da, B, rows, repeats, wait)
            eff = (B / best) / (workers * B / single)
            rep["clusters"].append({"workers": workers, "chunks": n_chunks, "rows": rows,
                                    "best_s": best, "median_s": med, "efficiency": eff})
            print(f"{workers} worker(s), {n_chunks} chunks of {rows:,}: {best:.3f} s "
                  f"({B / best:,.0f} Jacobians/s), scaling efficiency {eff:.2f}", flush=True)
            if workers == 1:
                # one worker, one thread: tasks run one after another, so the run's wall
                # time that no task was computing is what Dask adds
                for s in sorted(set(sizes)):
                    t, _, busy = _cluster_run(client, gdask, f, da, B, s, repeats, wait)
                    n = -(-B // s)
                    over = (t - busy) / n
                    total = t / n - per_call[s]
                    rep["overhead"].append({"rows": s, "chunks": n, "cluster_s": t,
                                            "task_ms": busy / n * 1e3, "call_ms": per_call[s] * 1e3,
                                            "overhead_ms": over * 1e3, "share": over / (t / n),
                                            "total_ms": total * 1e3})
                    print(f"  1 worker, chunks of {s:,} ({n} tasks): {t:.3f} s; a task computes "
                          f"{busy / n * 1e3:.2f} ms (the same call here: {per_call[s] * 1e3:.2f} "
                          f"ms); Dask's gaps between tasks {over * 1e3:.2f} ms per chunk "
                          f"({100 * over / (t / n):.0f}% of the run); run / chunks - call here "
                          f"{total * 1e3:.2f} ms", flush=True)
            traces = client.run(gdask.cache_info)
            print(f"  worker jit traces: "
                  f"{[sum(e['trace_count'] or 0 for e in v) for v in traces.values()]}")
    # the single process again: the load of a shared machine drifts; the best run counts
    again, again_med = _timed(single_run, repeats)
    del y, parts
    print(f"single-process jit again: {again:.3f} s", flush=True)
    if again < single:
        rep["single_s"], rep["single_median_s"] = again, again_med
        for c in rep["clusters"]:
            c["efficiency"] = (B / c["best_s"]) / (c["workers"] * B / again)
    print()
    print(format_markdown(rep))
    return 0


def format_markdown(rep) -> str:
    B, single = rep["batch"], rep["single_s"]
    lines = ["| run | time | Jacobians/s | scaling efficiency |", "|---|---|---|---|",
             f"| single-process jit, {len(rep['clusters']) and rep['clusters'][0]['chunks']} calls "
             f"of {rep['clusters'][0]['rows'] if rep['clusters'] else '?':,} rows | {single:.3f} s | "
             f"{B / single:,.0f} | - |"]
    for c in rep["clusters"]:
        lines.append(f"| {c['workers']} worker process{'es' if c['workers'] > 1 else ''}, "
                     f"{c['chunks']} chunks of {c['rows']:,} | {c['best_s']:.3f} s | "
                     f"{B / c['best_s']:,.0f} | {c['efficiency']:.2f} |")
    lines += ["", "| chunk rows | tasks | 1 worker | task compute | same call in one process | "
                  "gaps between tasks, per chunk | their share of the run | run per chunk - "
                  "call in one process |", "|---|---|---|---|---|---|---|---|"]
    for o in rep["overhead"]:
        lines.append(f"| {o['rows']:,} | {o['chunks']} | {o['cluster_s']:.3f} s | "
                     f"{o['task_ms']:.2f} ms | {o['call_ms']:.2f} ms | {o['overhead_ms']:.2f} ms | "
                     f"{100 * o['share']:.0f}% | {o['total_ms']:.2f} ms |")
    return "\n".join(lines)
