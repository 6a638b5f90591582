"""Turn a run's record into a console table, JSON, and a markdown page with a PNG plot."""
from __future__ import annotations

import json
import os

from . import timing
from .run import LIB_LABEL, LIB_ORDER, ratio

COLUMNS = ("workload", "method", "mode", "B", "gpuad", "torch.func", "JAX", "NumPy analytic",
           "gpuad/torch.func", "gpuad/JAX", "launches", "gpuad 1st call", "JAX compile")
# with CUDA events: gpuad's host time (the Python call, no sync) and wall time (call + sync)
GPU_COLUMNS = ("gpuad host", "gpuad wall")
CELL_MAX = 34
PEERS = ("torch.func", "jax")  # libraries that may fall back to the CPU without a word


def fmt_time(s) -> str:
    if s is None:
        return "-"
    if s >= 1.0:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} us"


def fmt_ratio(r) -> str:
    return "-" if r is None else (f"{r:.3g}x")


def _cell(entry, lib=None, device=None) -> str:
    if entry["median_s"] is not None:
        t = fmt_time(entry["median_s"])
        ran_on = entry.get("device")
        if device == "cuda" and lib in PEERS and ran_on and ran_on != "cuda":
            t += f" [{ran_on}]"  # a peer that did not run on the GPU says so in every row
        return t
    st = entry["status"]
    if st.startswith("error"):
        return "error (see notes)"
    return st if len(st) <= CELL_MAX else st[:CELL_MAX - 3] + "..."


def gpu_timed(data) -> bool:
    """Whether gpuad was timed by CUDA events in this run (its host time then has a column)."""
    return data.get("timing", {}).get("gpuad") == timing.CUDA_EVENTS


def columns(data) -> tuple:
    return COLUMNS + (GPU_COLUMNS if gpu_timed(data) else ())


def rows(data) -> list:
    out = []
    device = data["meta"]["device"]
    for r in data["results"]:
        libs = r["libs"]
        g = libs["gpuad"]
        launches = r.get("launches")
        row = [
            r["workload"], r["method"], r["mode"], f"{r['B']:,}",
            *(_cell(libs[k], k, device) for k in LIB_ORDER),
            fmt_ratio(r.get("ratio_gpuad_torch")), fmt_ratio(r.get("ratio_gpuad_jax")),
            "-" if launches is None else str(launches),
            fmt_time(g.get("first_call_s")) if g.get("first_call_s") is not None else "-",
            fmt_time(libs["jax"].get("compile_s")) if libs["jax"].get("compile_s") else "-",
        ]
        if gpu_timed(data):
            row += [fmt_time(g.get("host_median_s")), fmt_time(g.get("wall_median_s"))]
        out.append(row)
    return out


def timing_notes(data) -> list:
    """Which timing each library's figures use, and where each library actually ran."""
    kinds = data.get("timing", {})
    if not kinds:
        return []
    out = []
    by_kind = {}
    for lib, kind in kinds.items():
        by_kind.setdefault(kind, []).append(lib)
    for kind, libs in by_kind.items():
        out.append(f"timing of {', '.join(libs)}: {kind}, {timing.DESCRIPTION[kind]}.")
    if len(by_kind) > 1:
        out.append("ratios between two libraries timed differently use wall time (call + sync) "
                   "for both.")
    if gpu_timed(data):
        out.append("gpuad host: the Python call alone, before the device finishes; gpuad wall: "
                   "call plus sync. When host is close to the gpuad figure, the GPU waits on "
                   "the host.")
    devices = data.get("devices", {})
    if data["meta"]["device"] == "cuda" and devices:
        out.append("ran on: " + "; ".join(f"{k}: {v}" for k, v in devices.items() if v) + ".")
    return out


def notes(data) -> list:
    n = ["times: median per call of a batched Jacobian/Hessian over B points, float64, after warm-up; "
         "ratios > 1 mean gpuad is slower.",
         "jit rows: torch.func has no jit here (eager only), so gpuad/torch.func compares gpuad jit "
         "with torch.func eager; gpuad/JAX compares jit with jax.jit.",
         "JAX eager = jax.vmap(...) called without jax.jit (op-by-op dispatch).",
         "launches: gpuad kernel launches for one batched call (ad.count_launches).",
         "gpuad 1st call: first call in the process (Numba compiles; for jit: trace + compile + run); "
         "JAX compile: jax.jit(...).lower(x).compile() for that shape."]
    n += timing_notes(data)
    if data["meta"]["device"] == "cudasim":
        n.append("device cudasim: Numba's CUDA simulator runs every GPU thread in Python; these "
                 "times check the GPU code path, they say nothing about GPU speed.")
    seen = set()
    for r in data["results"]:
        for k in LIB_ORDER:
            st = r["libs"][k]["status"]
            if (st.startswith("error") or len(st) > CELL_MAX) and (k, st) not in seen:
                seen.add((k, st))
                n.append(f"{LIB_LABEL[k]} on {r['workload']} {r['method']} {r['mode']} "
                         f"B={r['B']:,}: {st}")
    return n


def library_line(data) -> str:
    devices = data.get("devices", {})
    return "; ".join(f"{k}: {v}" + (f" on {devices[k]}" if devices.get(k) else "")
                     for k, v in data["libraries"].items())


def format_table(data) -> str:
    body = rows(data)
    cols = columns(data)
    widths = [max(len(str(x)) for x in col) for col in zip(cols, *body)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    out = [line(cols), line("-" * w for w in widths)]
    prev = None
    for row in body:
        if prev is not None and row[0] != prev:
            out.append("")
        prev = row[0]
        out.append(line(row))
    m = data["meta"]["machine"]
    out.append("")
    out.append(f"machine: {m['cpu']}, {m['cores']} cores, threads per library: {m['threads']}; "
               f"device: {data['meta']['device']}; load average at start "
               f"{m.get('load_avg_1_5_15')}, at end {data['meta'].get('load_avg_end_1_5_15')}")
    out.append("libraries: " + library_line(data))
    out += [f"note: {x}" for x in notes(data)]
    out += [f"summary: {x}" for x in summary(data)]
    return "\n".join(out)


def format_first_calls(data, markdown=False) -> str:
    jax_compile = {}
    for r in data["results"]:
        c = r["libs"].get("jax", {}).get("compile_s")
        if r["mode"] == "jit" and c:
            jax_compile[(r["workload"], r["method"])] = c
    head = ("workload", "method", "cold first call", "warm first call", "JAX compile")
    body = []
    for r in data["first_calls"]:
        if "error" in r:
            body.append((r["workload"], r["method"], r["error"], "", ""))
            continue
        jc = jax_compile.get((r["workload"], r["method"]))
        body.append((r["workload"], r["method"], fmt_time(r["cold_s"]), fmt_time(r["warm_s"]),
                     fmt_time(jc) if jc else "-"))
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(out)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(head), line("-" * w for w in widths)] + [line(r) for r in body])


def gpu_model_table(data) -> tuple:
    """``(head, rows)`` of the GPU cost model: one row per gpuad row and modelled batch
    (bench/gpu_model.py)."""
    from .gpu_model import GPUS
    head = ["workload", "method", "mode", "B", "launches", "host"]
    for g in GPUS:
        head += [f"{g.name} device", f"{g.name} model", f"{g.name} floor", f"{g.name} model/floor"]
    head.append("linear in B")
    body = []
    for r in data["results"]:
        gm = r.get("gpu_model")
        if not gm:
            continue
        ident = [r["workload"], r["method"], r["mode"]]
        if gm.get("error") or not gm.get("models"):
            why = gm.get("error") or gm.get("why", "?")
            body.append(ident + [f"row B={r['B']:,}: {why}"] + [""] * (len(head) - 4))
            continue
        by_b = {}
        for m in gm["models"]:
            by_b.setdefault(m["B"], {})[m["gpu"]] = m
        for B, per in by_b.items():
            first = per[GPUS[0].name]
            row = ident + [f"{B:,}", str(first["launches"]), fmt_time(first["host_s"])]
            for g in GPUS:
                m = per[g.name]
                row += [fmt_time(m["device_s"]), fmt_time(m["modelled_s"]), fmt_time(m["floor_s"]),
                        fmt_ratio(m["ratio_to_floor"])]
            row.append(f"yes (B={', '.join(map(str, gm['fit_batches']))}; "
                       f"checked at {gm['check_batch']})")
            body.append(row)
    return head, body


def gpu_model_notes(data) -> list:
    from .gpu_model import GPUS, LAUNCH_LATENCY_S
    notes = [f"{g.name}: {g.source}." for g in GPUS]
    notes += [
        "device: sum over the plan's launches of max(global bytes read + written / HBM "
        "bandwidth, flops / FP64 peak; cuBLAS on the FP64 tensor-core peak) plus "
        f"{LAUNCH_LATENCY_S * 1e6:g} us launch latency per launch (assumed: NVIDIA quotes "
        "kernel launch overhead as a few microseconds); bytes and flops are "
        "ad.count_launches() records of the plan that ran, fitted a + b*B on two tiny "
        "batches on cudasim, checked on a third, extrapolated to B.",
        "host: one call's thread CPU time on cudasim minus the time inside simulated "
        "kernels (gpuad.launches.device_clock), at the row's B, taken as independent of B.",
        "model: max(host, device) (launches are asynchronous); floor: the batched "
        "Jacobian's input and output moved once through HBM.",
    ]
    unknown = sum(m["unknown_cost_launches"] for r in data["results"]
                  for m in (r.get("gpu_model") or {}).get("models", [])[:1])
    if unknown:
        notes.append(f"{unknown} launch(es) of unknown cost count their latency only.")
    return notes


def format_gpu_model(data, markdown=False, notes=True) -> str:
    head, body = gpu_model_table(data)
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(row) + " |" for row in body]
        if notes:
            out += [""] + [f"- {n}" for n in gpu_model_notes(data)]
        return "\n".join(out)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    out = ["GPU cost model (bench/gpu_model.py)", line(head), line("-" * w for w in widths)]
    out += [line(r) for r in body]
    return "\n".join(out + [f"note: {n}" for n in gpu_model_notes(data)])


GPU_MODEL_HEADING = "## GPU cost model"


def write_gpu_model_section(data, path) -> None:
    """Replace (or append) the ``## GPU cost model`` section of the markdown at ``path``
    with this run's model table, its command and its notes; ``data`` may be a list of
    runs (one table and command each, e.g. a jit run and an eager run)."""
    from .gpu_model import FIT_BATCHES
    try:
        with open(path) as fh:
            text = fh.read()
    except OSError:
        text = ""
    runs = data if isinstance(data, list) else [data]
    tables = []
    for run in runs:
        tables += [f"- Command: `{' '.join(run['meta']['argv'])}`, {run['meta']['date_utc']} UTC",
                   "", format_gpu_model(run, markdown=True, notes=False), ""]
    tables += [f"- {n}" for n in gpu_model_notes(runs[0])] + [""]
    section = "\n".join([
        GPU_MODEL_HEADING, "",
        "Modelled time of each gpuad row on an H100 SXM and an H200 at the batches below, "
        "from the kernels its plan launches on `cudasim` (bench/gpu_model.py; DESIGN.md "
        "\"GPU cost model\"). Generated by `bench` (`--model-markdown PATH`, or "
        "`bench.report.write_gpu_model_section` on the run's `--json` record) — do not "
        "edit by hand.",
        "",
        "How: `ad.count_launches()` records every launch of one call with the global bytes "
        "it reads and writes (the arrays it was handed, each element once) and its flops "
        "(docs/kernels.md, \"Bytes and flops per launch\"). Each row runs on the simulator "
        f"at B = {', '.join(map(str, FIT_BATCHES))}; every launch's bytes and flops are "
        "fitted as a + b·B and the fit is checked, launch by launch, on a third batch (the "
        "row's B), then extrapolated. Device time: per kernel max(bytes / HBM bandwidth, "
        "flops / FP64 peak), plus a launch latency per launch. Host time: the call's CPU "
        "time with the simulated kernels' time taken out (`gpuad.launches.device_clock`), "
        "measured at the row's B. Launches are asynchronous, so the model is max(host, "
        "device); where host > device the GPU idles between kernels and the row is "
        "host-bound. Floor: the batched Jacobian's input and output moved once.",
        "",
        *tables])
    i = text.find("\n" + GPU_MODEL_HEADING + "\n")
    if i >= 0:
        j = text.find("\n## ", i + 1)
        text = text[:i + 1] + section + ("\n" + text[j + 1:] if j >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as fh:
        fh.write(text)


def format_profiles(data) -> str:
    out = []
    for w, p in data.get("profiles", {}).items():
        out.append(f"\nprofile: {w} {p['method']} {p['mode']} B={p['B']:,} "
                   f"({p['why'] + '; ' if p.get('why') else ''}{fmt_time(p['total_s_per_call'])} per call under cProfile, "
                   f"{p['calls']} calls)")
        for f in p["top"]:
            share = f"{100 * f['share']:.0f}%" if f["share"] is not None else "?"
            out.append(f"  {share:>4}  tottime {fmt_time(f['tottime_s_per_call']):>9}  "
                       f"ncalls {f['ncalls_per_call']:>7.0f}  {f['function']}")
    return "\n".join(out)


def summary(data) -> list:
    """Geometric-mean ratios per (mode, B), and the worst row against each peer."""
    import math
    out = []
    res = data["results"]
    for mode in dict.fromkeys(r["mode"] for r in res):
        for B in dict.fromkeys(r["B"] for r in res):
            cell = [r for r in res if r["mode"] == mode and r["B"] == B]
            parts = []
            for key, peer in (("ratio_gpuad_torch", "torch.func"), ("ratio_gpuad_jax", "JAX")):
                vals = [(r[key], r) for r in cell if r.get(key)]
                if not vals:
                    continue
                gm = math.exp(sum(math.log(v) for v, _ in vals) / len(vals))
                worst_v, worst = max(vals, key=lambda t: t[0])
                parts.append(f"gpuad/{peer} geometric mean {gm:.2f}x over {len(vals)} rows "
                             f"(worst {worst_v:.2f}x: {worst['workload']} {worst['method']})")
            if mode == "eager":  # until gpuad has a jit, its eager mode meets JAX's best
                jit = {(r["workload"], r["method"]): r["libs"]["jax"]
                       for r in res if r["mode"] == "jit" and r["B"] == B}
                vals = [(v, r) for r in cell
                        if (v := ratio(r["libs"]["gpuad"], jit.get((r["workload"], r["method"]), {})))]
                if vals:
                    gm = math.exp(sum(math.log(v) for v, _ in vals) / len(vals))
                    best_v, best = min(vals, key=lambda t: t[0])
                    parts.append(f"gpuad eager/JAX jit geometric mean {gm:.2f}x "
                                 f"(best {best_v:.2f}x: {best['workload']} {best['method']})")
            if parts:
                out.append(f"{mode}, B = {B:,}: " + "; ".join(parts))
    return out


def write_json(data, path) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(data, fh, indent=1, default=str)


# --------------------------------------------------------------------------------------------
# plot and markdown
# --------------------------------------------------------------------------------------------
SERIES = (("gpuad", "eager", "gpuad eager", "C0", "o-"), ("gpuad", "jit", "gpuad jit", "C0", "s--"),
          ("torch.func", "eager", "torch.func", "C3", "o-"), ("jax", "eager", "JAX eager", "C2", "o-"),
          ("jax", "jit", "JAX jit", "C2", "s--"), ("numpy", "eager", "NumPy analytic", "C7", "^:"))


def plot(data, path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = data["results"]
    wls = list(dict.fromkeys(r["workload"] for r in res))
    methods = list(dict.fromkeys(r["method"] for r in res))
    fig, axes = plt.subplots(len(wls), len(methods), figsize=(4.2 * len(methods), 3.2 * len(wls)),
                             squeeze=False)
    for i, w in enumerate(wls):
        for j, m in enumerate(methods):
            ax = axes[i][j]
            cell = [r for r in res if r["workload"] == w and r["method"] == m]
            if not cell:
                ax.set_visible(False)
                continue
            for lib, mode, label, color, style in SERIES:
                pts = sorted((r["B"], r["libs"][lib]["median_s"]) for r in cell
                             if r["mode"] == mode and r["libs"][lib]["median_s"])
                if pts:
                    ax.plot(*zip(*pts), style, color=color, label=label, markersize=5)
            for r in cell:  # say where gpuad failed rather than leave a silent gap
                st = r["libs"]["gpuad"]["status"]
                if st.startswith("error"):
                    kind = st.split(":")[1].strip() if ":" in st else "error"
                    ax.annotate(f"gpuad {r['mode']}: {kind}", xy=(r["B"], 0.97),
                                xycoords=("data", "axes fraction"), ha="right", va="top",
                                fontsize=7, color="C3")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"{w}: {m}", fontsize=10)
            ax.set_xlabel("batch B")
            ax.set_ylabel("median time per call [s]")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
    m = data["meta"]["machine"]
    fig.suptitle(f"gpuad vs peers, float64, {m['cpu']}, {m['threads']} thread(s)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown_table(data) -> str:
    body = rows(data)
    cols = columns(data)
    out = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return "\n".join(out)


PEER_BUGS = [
    "## Peer bugs",
    "",
    "- torch 2.13: `torch.func.vmap(torch.func.jacfwd(torch.linalg.det))` is wrong for every batch "
    "element but the first (`jacfwd` alone, `vmap(jacrev)`, `vmap` of a single `jvp`, and the "
    "`forward_ad` dual API are all right; it is the nested vmap of `det`'s forward rule). "
    "`neohookean` therefore writes J = det F as a 3x3 cofactor expansion, the same code in every "
    "library. Repro:",
    "",
    "```python",
    "import torch",
    "from torch.func import vmap, jacfwd, jacrev",
    "F = torch.eye(3, dtype=torch.float64) + 0.15 * torch.randn(4, 3, 3, dtype=torch.float64)",
    "print((vmap(jacfwd(torch.linalg.det))(F) - vmap(jacrev(torch.linalg.det))(F)).abs().max())  # ~1e3",
    "```",
    "",
]


# written by hand from `python -m bench --dask` (docs/distributed.md), and by
# `python -m bench --device cudasim --model-markdown` (write_gpu_model_section)
KEPT_SECTIONS = ("## Dask", GPU_MODEL_HEADING)


def kept_sections(path) -> list:
    """The sections of the report already at ``path`` that another command measures
    (``KEPT_SECTIONS``, each running to the next ``## `` heading): a new report keeps them."""
    try:
        with open(path) as fh:
            text = "\n" + fh.read()
    except OSError:
        return []
    out = []
    for head in KEPT_SECTIONS:
        i = text.find("\n" + head + "\n")
        if i >= 0:
            j = text.find("\n## ", i + 1)
            out += [text[i + 1:j if j >= 0 else len(text)].rstrip(), ""]
    return out


def write_markdown(data, path) -> None:
    png = os.path.splitext(path)[0] + ".png"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    plot(data, png)
    meta, m = data["meta"], data["meta"]["machine"]
    cmd = " ".join(meta["argv"])
    vers = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    lines = [
        "# Performance",
        "",
        "Batched Jacobians and Hessians of the physics workloads of DESIGN.md (\"Performance "
        "contract\"), gpuad against torch.func, JAX and a hand-written analytic NumPy "
        "Jacobian, all in one process. Generated by `bench` — do not edit by hand.",
        "",
        f"- Command: `{cmd}` ({meta['wall_s']:.0f} s wall), {meta['date_utc']} UTC",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['platform']}",
        f"- Load average (1, 5, 15 min) at start: {m.get('load_avg_1_5_15')}, at end: "
        f"{meta.get('load_avg_end_1_5_15')} (other processes shared the machine when this is "
        f"above 1: compare ratios within the run, not absolute times)",
        f"- Threads: every library pinned to {m['threads']} "
        "(OMP/MKL/OpenBLAS/Numba env vars and XLA_FLAGS set before import, torch.set_num_threads)",
        f"- gpuad device: `{meta['device']}`; versions: {vers}",
        "- Libraries: " + library_line(data),
        "",
        "## Workloads",
        "",
    ]
    lines += [f"- `{w}`: {t}" for w, t in data["workloads"].items()]
    lines += [
        "",
        "Every per-point function is written once per library in `bench/workloads/<name>.py` "
        "and batched with the library's own `vmap`. Before any timing, every implementation is "
        f"checked against the analytic NumPy reference (rtol {meta['rtol']:g}, float64), in a "
        f"check pass over every cell at B = {meta.get('check_batch', 5):,} and again at each timed B; "
        "a disagreement stops the run.",
        "",
        "## Results",
        "",
    ]
    lines += [f"- {x}" for x in summary(data)]
    lines += [
        "",
        markdown_table(data),
        "",
    ]
    lines += [f"- {x}" for x in notes(data)]
    lines += ["", f"![time vs batch size]({os.path.basename(png)})", ""]
    if data.get("first_calls"):
        lines += ["## First call of the jit rows", "",
                  "Each figure is a new process calling `ad.jit(ad.vmap(T(f)))` once at "
                  f"B = {data['first_calls'][0]['B']:,}: trace, compile or load, run. Cold: empty "
                  "kernel caches (every kernel compiled); warm: a second process on the same "
                  "caches (every kernel loaded from disk; Numba's start-up and the trace remain). "
                  "JAX compile is `jax.jit(f).lower(x).compile()` at the largest B of the table "
                  "above.", "", format_first_calls(data, markdown=True), ""]
    if data.get("profiles"):
        lines += ["## Where gpuad's time goes", "",
                  "cProfile of the slowest gpuad method of each workload at the largest B "
                  "(top 5 functions by own time):", "", "```", format_profiles(data).strip(), "```", ""]
    lines += [
        "## Reproduce",
        "",
        "```sh",
        "pip install -e '.[bench]'          # torch, jax[cpu], tqdm, matplotlib",
        f"{cmd}",
        "python -m bench --quick           # B = 1,000 only, fewer repeats (< 5 min on 2 cores)",
        "python -m bench --help            # --device cpu|cudasim|cuda, --json, --workloads, --threads, --profile",
        "```",
        "",
        "Timing protocol: each cell builds `vmap(T(f))` in every library, calls it once (checked "
        "against the reference), warms up, then runs rounds in which every library is called "
        "once, always in the order gpuad, torch.func, JAX, NumPy; the figure is the median over "
        f"rounds ({meta['repeats_min_max'][0]} to {meta['repeats_min_max'][1]} rounds, as many "
        "as fit a fixed time budget). Which clock each library's figures come from (the wall "
        "clock with a sync; CUDA events on `--device cuda`) and where each ran are in the notes "
        "under the table. Numbers from a 2-core virtual machine are noisy: compare "
        "ratios from one run, not absolute times across runs.",
        "",
    ]
    lines += PEER_BUGS
    extra = data.get("markdown_extra")
    if extra:
        lines += [extra, ""]
    lines += kept_sections(path)
    with open(path, "w") as fh:
        fh.write("\n".join(lines))
