"""SparseNMF (torch) against scikit-learn's multiplicative-update NMF, on the same problem.

Headline (µ = 0): both solve exactly the same problem, plain Frobenius NMF
``min ½‖V − WH‖²_F`` over non-negative W, H, with the same algorithm family (alternating
multiplicative updates, activations first, then the dictionary), from the same initial factors,
on the same float32 data: the log1p-magnitude frames of the ESC-10 training split (cpu preset,
513 bins), K = 100. (SparseNMF keeps its atoms at unit norm by moving each norm into the
activations; at µ = 0 that leaves WH, the objective and the next update unchanged.)

How it is measured, the same way on both sides:

* One objective: ``½‖V − WH‖²_F + µ‖H‖₁`` computed here in float64 numpy from the factors each
  library returns (direct residual, not an expansion).
* Per-iteration trajectories: each library is run one iteration at a time, each call continuing
  from the factors the previous one returned (scikit-learn ``init='custom'``, SparseNMF
  ``W_init``/``H_init``); a check that 3 chained calls give the factors of one ``max_iter=3`` call is
  recorded. The trajectories are not timed.
* Timing: the whole public call ``fit_transform`` on numpy float32 input with the given initial
  factors, to the returned numpy factors, so both include their input validation / conversion and
  their checks of the given initialisation, and neither draws a random initialisation. Each side
  also computes objectives inside its call (scikit-learn: the error at start and the final
  ``reconstruction_err_``; SparseNMF: its history at every iteration and the final objective).
* Denormals: the same setting on both sides (``torch.set_flush_denormal`` on the calling thread,
  probed and recorded); torch and BLAS threads recorded.
* Repeats are interleaved (the order of the sides rotates each repeat); medians and spread
  (min, max) are reported, and every raw time is kept in the JSON.

Reported, for SparseNMF ``inner_iter=1`` (the default, plain alternating MU) and ``inner_iter=5``:
the per-iteration time ratio (scikit-learn seconds per iteration / SparseNMF seconds per
iteration, > 1 means SparseNMF is faster) and the time-to-same-objective ratio (scikit-learn's
time for ``--iters`` iterations / SparseNMF's time for the fewest iterations whose float64
objective is at most scikit-learn's final one, times ``1 + rtol``).

µ > 0 is reported as a difference in *what is solved*, not as a speed-up: scikit-learn's
``alpha_W`` L1 penalty does not keep the atoms at unit norm, so it lowers its objective by growing
the atoms and shrinking the activations; the mean atom norm, each side's final objective on its own
problem and the relative reconstruction errors are recorded.

Solvers (µ = 0, same data, K and initial factors): scikit-learn ``NMF(solver='mu')`` for
``--iters`` iterations gives the target objective J* and its time T_mu; then the time each of
scikit-learn ``NMF(solver='cd')`` and SparseNMF ``solver='hals'`` needs to reach J*: the fewest
iterations whose float64 objective (direct residual, from the returned factors) is at most
``J* (1 + rtol)`` are found first (HALS: from its per-iteration history, then confirmed; CD: fits
from scratch with increasing then bisected ``max_iter``), then the whole ``fit_transform`` call
with that many iterations is timed from scratch, interleaved with the scikit-learn MU fit
(``--repeats`` times). Ratios: T_mu / T(HALS) and T(CD) / T(HALS), > 1: HALS faster.

Mini-batch (µ = 0): a frame set larger than a stated memory budget (``--budget-mb``) is written to
disk as a ``.npy`` file: the ESC-10 training frames minus a held-out evaluation subset, tiled
``--tiles`` times, each tile multiplied elementwise by a seeded uniform factor in [0.9, 1.1].
SparseNMF ``fit_minibatch`` and scikit-learn ``MiniBatchNMF.partial_fit`` read it chunk by chunk
(``--chunk-frames`` rows, the same chunks in the same seeded order, the same number of passes, the
same initial dictionary and the same per-chunk forgetting ρ), each in a fresh process. Reported:
time, peak RSS (``VmHWM`` of ``/proc/self/status`` in that process, and the same after imports,
before the data; ``ru_maxrss`` would carry the parent's peak over ``execve``), and the objective
of each dictionary on the held-out frames (the same evaluation for both: atoms normalised,
activations by SparseNMF HALS with W fixed to convergence, float64 direct residual ½‖V − WH‖² per
frame). Chunks are read through ``np.memmap``, reopened
for every chunk and dropped after the copy, so file pages are not left mapped into the process
(they would count in its RSS).

Usage::

    L2I_DATA=/path/to/data python benchmarks/bench_nmf.py --json benchmarks/results/bench_nmf_cpu.json
    python benchmarks/bench_nmf.py --gpu-only --device cuda   # paper preset timing on a GPU

The solver and mini-batch comparisons are under the keys ``solvers`` and ``minibatch`` of the
JSON; ``--skip-same-problem`` / ``--skip-solvers`` / ``--skip-minibatch`` leave a part out.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.decomposition import NMF, MiniBatchNMF
from threadpoolctl import threadpool_info

from l2i_core.data import load_dataset
from l2i_core.nmf.dictionary import gather_frames
from l2i_core.nmf.sparse_nmf import SparseNMF, denormals_flushed, flush_denormals
from l2i_core.pipeline.notebooks import machine_info

K = 100


class Problem:
    """The data, the initial factors and the one float64 objective both sides are scored with."""

    def __init__(self, V: np.ndarray, seed: int = 0):
        self.V = np.ascontiguousarray(V, dtype=np.float32)
        self.V64 = self.V.astype(np.float64)
        rng = np.random.default_rng(seed)
        W0 = rng.random((V.shape[0], K)).astype(np.float32)
        self.W0 = W0 / np.linalg.norm(W0, axis=0)
        self.H0 = (rng.random((K, V.shape[1])) * np.sqrt(V.mean() / K)).astype(np.float32)
        self.norm_V = float(np.linalg.norm(self.V64))

    def terms(self, W, H) -> tuple[float, float]:
        """(½‖V − WH‖²_F, ‖H‖₁) in float64, from the direct residual."""
        R = np.asarray(W, np.float64) @ np.asarray(H, np.float64)
        np.subtract(self.V64, R, out=R)
        r = R.ravel()
        return 0.5 * float(r @ r), float(np.asarray(H, np.float64).sum())

    def objective(self, W, H, mu: float) -> float:
        d, l1 = self.terms(W, H)
        return d + mu * l1

    def relative_error(self, W, H) -> float:
        return float(np.sqrt(2 * self.terms(W, H)[0]) / self.norm_V)


def sklearn_fit(P: Problem, W, H, mu: float, iters: int, flush: bool):
    """scikit-learn on Vᵀ (frames × freq): its W is our H transposed, its H our W transposed.

    Returns (our W, our H, seconds of the fit_transform call, denormals flushed inside).
    """
    sk = NMF(K, init="custom", solver="mu", beta_loss="frobenius", alpha_W=mu / P.V.shape[0], alpha_H=0.0,
             l1_ratio=1.0, max_iter=iters, tol=0.0)
    A0, D0 = np.ascontiguousarray(H.T), np.ascontiguousarray(W.T)
    with warnings.catch_warnings(), flush_denormals(flush):
        warnings.simplefilter("ignore")
        flushed = denormals_flushed()
        t = time.perf_counter()
        A = sk.fit_transform(P.V.T, W=A0, H=D0)
        seconds = time.perf_counter() - t
    return np.ascontiguousarray(sk.components_.T), np.ascontiguousarray(A.T), seconds, flushed


def l2i_fit(P: Problem, W, H, mu: float, iters: int, flush: bool, inner_iter: int):
    """SparseNMF; returns (W, H, seconds of the fit_transform call, denormals flushed inside)."""
    m = SparseNMF(K, sparsity=mu, max_iter=iters, tol=0, progress=False, device="cpu", inner_iter=inner_iter,
                  flush_denormals=flush)
    with flush_denormals(flush):  # same outer setting as scikit-learn's (SparseNMF also sets it inside)
        flushed = denormals_flushed()
        t = time.perf_counter()
        H_out = m.fit_transform(P.V, W_init=W, H_init=H)
        seconds = time.perf_counter() - t
    return m.components_, H_out, seconds, flushed


def trajectory(P, fit, mu, iters, target=None, rtol=0.0):
    """float64 objective of the iterate after 0, 1, ... iterations, one chained call per iteration.

    Stops after ``iters`` iterations or, with a target, at the first iterate whose objective is at
    most ``target * (1 + rtol)``.
    """
    W, H = P.W0, P.H0
    objs = [P.objective(W, H, mu)]
    for _ in range(iters):
        W, H, _, _ = fit(P, W, H, mu, 1)
        objs.append(P.objective(W, H, mu))
        if target is not None and objs[-1] <= target * (1 + rtol):
            break
    return objs


def chaining_check(P, fit, mu, n=3) -> float:
    """Largest relative difference between n chained one-iteration calls and one n-iteration call."""
    W, H = P.W0, P.H0
    for _ in range(n):
        W, H, _, _ = fit(P, W, H, mu, 1)
    W1, H1, _, _ = fit(P, P.W0, P.H0, mu, n)
    return float(max(np.abs(W - W1).max() / np.abs(W1).max(), np.abs(H - H1).max() / np.abs(H1).max()))


def spread(xs):
    xs = [float(x) for x in xs]
    return {"median": float(np.median(xs)), "min": min(xs), "max": max(xs), "values": xs}


def same_problem(P, iters, repeats, flush, inner_iters, rtol):
    """µ = 0: trajectories, then interleaved timed repeats."""
    sides = {"sklearn": lambda P, W, H, mu, n: sklearn_fit(P, W, H, mu, n, flush)}
    for inner in inner_iters:
        sides[f"l2i_inner_iter_{inner}"] = (lambda i: lambda P, W, H, mu, n: l2i_fit(P, W, H, mu, n, flush, i))(inner)
    out = {"chaining_check_max_relative_difference": {k: chaining_check(P, f, 0.0) for k, f in sides.items()}}
    sk_traj = trajectory(P, sides["sklearn"], 0.0, iters)
    target = sk_traj[-1]
    out["sklearn_objective_per_iteration"] = sk_traj
    out["target_objective"] = target
    n_iter = {"sklearn": iters}
    for inner in inner_iters:
        key = f"l2i_inner_iter_{inner}"
        traj = trajectory(P, sides[key], 0.0, 3 * iters, target=target, rtol=rtol)
        out[f"{key}_objective_per_iteration"] = traj
        n_iter[key] = len(traj) - 1 if traj[-1] <= target * (1 + rtol) else None
    seconds = {k: [] for k in sides if n_iter[k]}
    finals = {}
    order = list(seconds)
    for r in range(repeats):
        for k in order[r % len(order):] + order[: r % len(order)]:  # rotate who goes first
            W, H, s, flushed = sides[k](P, P.W0, P.H0, 0.0, n_iter[k])
            seconds[k].append(s)
            finals[k] = {"objective": P.objective(W, H, 0.0), "relative_error": P.relative_error(W, H),
                         "denormals_flushed_inside_call": flushed}
    out["sides"] = {k: {"iterations": n_iter[k], "seconds": spread(seconds.get(k, [np.nan])), **finals.get(k, {})}
                    for k in sides}
    sk = seconds["sklearn"]
    for inner in inner_iters:
        key = f"l2i_inner_iter_{inner}"
        if not n_iter[key]:
            continue
        ours = seconds[key]  # paired by repeat: adjacent in time
        out["sides"][key]["per_iteration_time_ratio"] = spread(
            [(a / iters) / (b / n_iter[key]) for a, b in zip(sk, ours)])
        out["sides"][key]["time_to_same_objective_ratio"] = spread([a / b for a, b in zip(sk, ours)])
    return out


def what_is_solved(P, mu, iters, flush):
    """µ > 0: each side's result on its own problem; no speed ratio (different problems)."""
    D, A, t_sk, _ = sklearn_fit(P, P.W0, P.H0, mu, iters, flush)
    W, H, t_ours, _ = l2i_fit(P, P.W0, P.H0, mu, iters, flush, 1)
    norms = np.linalg.norm(D, axis=0).clip(1e-12)
    d_sk, l1_sk = P.terms(D, A)
    d_l2i, l1_l2i = P.terms(W, H)
    return {
        "mu": mu, "iterations": iters, "l2i_inner_iter": 1,
        "sklearn_problem": "½‖V − DA‖²_F + µ‖A‖₁, D ≥ 0 unconstrained in norm (alpha_W = µ / n_freq, l1_ratio = 1)",
        "l2i_problem": "½‖V − WH‖²_F + µ‖H‖₁, W ≥ 0 with unit-norm columns",
        "sklearn_mean_atom_norm": float(norms.mean()),
        "l2i_mean_atom_norm": float(np.linalg.norm(W, axis=0).mean()),
        "sklearn_objective_own_problem": d_sk + mu * l1_sk,
        "l2i_objective_own_problem": d_l2i + mu * l1_l2i,
        "sklearn_objective_atoms_normalised": P.objective(D / norms, A * norms[:, None], mu),
        "sklearn_half_squared_residual": d_sk, "l2i_half_squared_residual": d_l2i,
        "sklearn_activation_l1": l1_sk, "l2i_activation_l1": l1_l2i,
        "sklearn_relative_error": P.relative_error(D, A), "l2i_relative_error": P.relative_error(W, H),
        "sklearn_seconds_one_run": t_sk, "l2i_seconds_one_run": t_ours,
        "note": "different problems: the seconds are recorded, not compared",
    }


# -- solvers: time to scikit-learn MU's objective ----------------------------------------------
def sklearn_cd_fit(P: Problem, iters: int):
    """scikit-learn coordinate descent (µ = 0) from the same initial factors; (our W, our H, seconds)."""
    sk = NMF(K, init="custom", solver="cd", beta_loss="frobenius", max_iter=iters, tol=0.0)
    A0, D0 = np.ascontiguousarray(P.H0.T), np.ascontiguousarray(P.W0.T)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        A = sk.fit_transform(P.V.T, W=A0, H=D0)
        seconds = time.perf_counter() - t
    return np.ascontiguousarray(sk.components_.T), np.ascontiguousarray(A.T), seconds


def hals_fit(P: Problem, iters: int, flush: bool, inner_iter: int):
    """SparseNMF solver='hals' (µ = 0); (W, H, seconds of the fit_transform call, the estimator)."""
    m = SparseNMF(K, sparsity=0.0, max_iter=iters, tol=0, progress=False, device="cpu", solver="hals",
                  inner_iter=inner_iter, flush_denormals=flush)
    with flush_denormals(flush):
        t = time.perf_counter()
        H = m.fit_transform(P.V, W_init=P.W0, H_init=P.H0)
        seconds = time.perf_counter() - t
    return m.components_, H, seconds, m


def fewest_iterations(objective_after, target, start: int, limit: int):
    """Smallest n <= limit with objective_after(n) <= target (objective assumed non-increasing in n).

    Doubling from ``start``, then bisection; returns (n or None, {n: objective} of every fit made).
    """
    seen = {}

    def reached(n):
        if n not in seen:
            seen[n] = objective_after(n)
        return seen[n] <= target

    lo, hi = 0, max(1, start)
    while not reached(hi):
        lo, hi = hi, min(2 * hi, limit)
        if lo == limit:
            return None, seen
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if reached(mid):
            hi = mid
        else:
            lo = mid
    return hi, seen


def solvers(P, iters, repeats, flush, rtol, hals_inner=(1, 3), hals_limit=200):
    """µ = 0: J* and T_mu from scikit-learn MU, then time-to-J* for scikit-learn CD and SparseNMF HALS."""
    out = {"mu": 0.0, "sklearn_mu_iterations": iters, "same_objective_rtol": rtol,
           "method": "fewest iterations reaching J* (float64 direct objective of the returned factors), then the "
                     "whole fit_transform call with that many iterations timed from scratch, interleaved repeats"}
    W, H, _, _ = sklearn_fit(P, P.W0, P.H0, 0.0, iters, flush)
    target = P.objective(W, H, 0.0)
    out["target_objective_J_star"] = target
    bound = target * (1 + rtol)
    n_iter, fits = {"sklearn_mu": iters}, {}
    for inner in hals_inner:
        key = f"l2i_hals_inner_iter_{inner}"
        _, _, _, m = hals_fit(P, hals_limit, flush, inner)  # one long fit: its history, timestamps included
        hist, secs = np.asarray(m.objective_history_), np.asarray(m.seconds_history_)
        out[f"{key}_objective_per_iteration"] = hist.tolist()
        out[f"{key}_seconds_per_iteration"] = secs.tolist()
        hit = np.nonzero(hist[:-1] <= bound)[0]
        guess = int(hit[0]) if len(hit) else hals_limit

        def direct(n, inner=inner):
            Wn, Hn, _, _ = hals_fit(P, n, flush, inner)
            return P.objective(Wn, Hn, 0.0)

        n, seen = fewest_iterations(direct, bound, max(1, guess - 1), 3 * hals_limit)
        n_iter[key], fits[key] = n, seen
    n, seen = fewest_iterations(lambda n: P.objective(*sklearn_cd_fit(P, n)[:2], 0.0), bound,
                                max(1, min(v for k, v in n_iter.items() if k.startswith("l2i") and v) - 1), 3 * iters)
    n_iter["sklearn_cd"], fits["sklearn_cd"] = n, seen
    out["objective_of_every_search_fit"] = {k: {str(i): o for i, o in v.items()} for k, v in fits.items()}
    runners = {"sklearn_mu": lambda n: sklearn_fit(P, P.W0, P.H0, 0.0, n, flush)[2],
               "sklearn_cd": lambda n: sklearn_cd_fit(P, n)[2]}
    for inner in hals_inner:
        runners[f"l2i_hals_inner_iter_{inner}"] = (lambda i: lambda n: hals_fit(P, n, flush, i)[2])(inner)
    order = [k for k in runners if n_iter.get(k)]
    seconds = {k: [] for k in order}
    for r in range(repeats):
        for k in order[r % len(order):] + order[: r % len(order)]:
            seconds[k].append(runners[k](n_iter[k]))
    out["sides"] = {k: {"iterations_to_J_star": n_iter.get(k), "seconds": spread(seconds[k]) if k in seconds else None}
                    for k in runners}
    best = min((k for k in order if k.startswith("l2i_hals")), key=lambda k: np.median(seconds[k]), default=None)
    out["l2i_hals_best"] = best
    if best:
        ours = seconds[best]
        out["ratio_sklearn_mu_time_over_l2i_hals_time_to_J_star"] = spread([a / b for a, b in zip(seconds["sklearn_mu"], ours)])
        out["target_ratio_mu"] = 5.0
        if "sklearn_cd" in seconds:
            out["ratio_sklearn_cd_over_l2i_hals_time_to_J_star"] = spread(
                [a / b for a, b in zip(seconds["sklearn_cd"], ours)])
            out["target_ratio_cd"] = 1.0
    return out


# -- mini-batch: a frame set larger than the memory budget, read from disk --------------------
class DiskFrames:
    """Rows of an on-disk ``.npy`` (n_frames, n_freq), read through a fresh np.memmap per slice."""

    def __init__(self, path):
        self.path = str(path)
        mm = np.load(self.path, mmap_mode="r")
        self.shape, self.dtype = mm.shape, mm.dtype
        del mm

    def __getitem__(self, index):
        mm = np.load(self.path, mmap_mode="r")
        rows = np.array(mm[index])
        del mm
        return rows

    def chunks(self, batch, epoch, seed=0):
        """The chunks SparseNMF.fit_minibatch reads for this epoch, in its order."""
        n = self.shape[0]
        order = np.random.default_rng([seed, epoch]).permutation(-(-n // batch))
        for i in order:
            yield self[int(i) * batch:min(int(i) * batch + batch, n)]


def _peak_rss_mb() -> float:
    """Peak resident set size of this process (VmHWM, :mod:`_rss`), MiB; ``ru_maxrss`` where /proc is absent."""
    from _rss import vm_hwm_kb

    kb = vm_hwm_kb()
    return (kb if kb is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024.0  # KiB on Linux


def _minibatch_worker(side, path, W0, chunk, epochs, rho, threads, queue):
    torch.set_num_threads(threads)
    from threadpoolctl import threadpool_limits

    frames = DiskFrames(path)
    rss0 = _peak_rss_mb()
    n = frames.shape[0]
    with threadpool_limits(threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        if side == "l2i":
            m = SparseNMF(K, sparsity=0.0, progress=False, device="cpu", solver="hals")
            m.fit_minibatch(frames, batch_frames=chunk, n_epochs=epochs, forget_factor=rho ** (n / chunk),
                            W_init=W0)
            W = m.components_
        else:
            sk = MiniBatchNMF(K, init="custom", beta_loss="frobenius", batch_size=chunk, forget_factor=rho,
                              alpha_W=0.0, alpha_H=0.0, max_iter=1, tol=0.0, random_state=0)
            first = True
            for e in range(epochs):
                for X in frames.chunks(chunk, e):
                    if first:
                        avg = np.sqrt(X.mean() / K)
                        sk.partial_fit(X, W=np.full((X.shape[0], K), avg, np.float32), H=np.ascontiguousarray(W0.T))
                        first = False
                    else:
                        sk.partial_fit(X)
            W = np.ascontiguousarray(sk.components_.T)
        seconds = time.perf_counter() - t
    queue.put({"seconds": seconds, "peak_rss_mb": _peak_rss_mb(), "rss_after_imports_mb": rss0, "W": W})


def _run_isolated(*args):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_minibatch_worker, args=(*args, q))
    p.start()
    res = q.get()
    p.join()
    return res


def heldout_objective(W, V_eval, flush):
    """Per-frame ½‖V − WH‖² (float64 direct) with W's atoms normalised and H by HALS to convergence."""
    W = np.asarray(W, np.float32)
    W = W / np.linalg.norm(W, axis=0).clip(1e-12)
    m = SparseNMF(W.shape[1], sparsity=0.0, progress=False, device="cpu", solver="hals", flush_denormals=flush)
    m.components_ = W
    H = m.transform(V_eval, max_iter=300)
    R = V_eval.astype(np.float64) - W.astype(np.float64) @ H.astype(np.float64)
    return 0.5 * float(np.sum(R * R)) / V_eval.shape[1]


def minibatch(V, budget_mb, tiles, chunk, epochs, eval_frames, forget, threads, flush, workdir):
    rng = np.random.default_rng(0)
    perm = rng.permutation(V.shape[1])
    ev, tr = np.sort(perm[:eval_frames]), np.sort(perm[eval_frames:])
    V_eval = np.ascontiguousarray(V[:, ev])
    rows = np.ascontiguousarray(V[:, tr].T)  # frames as rows, as on disk
    path = Path(workdir) / "bench_nmf_frames.npy"
    n = rows.shape[0] * tiles
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, rows.shape[1]))
    for t in range(tiles):
        mm[t * rows.shape[0]:(t + 1) * rows.shape[0]] = rows * rng.uniform(0.9, 1.1, rows.shape).astype(np.float32)
    mm.flush()
    del mm
    size_mb = path.stat().st_size / 2**20
    W0 = np.random.default_rng(0).random((V.shape[0], K)).astype(np.float32)
    W0 /= np.linalg.norm(W0, axis=0)
    rho = forget ** (chunk / n)  # per-chunk decay of the past statistics, the same on both sides
    out = {"mu": 0.0, "memory_budget_mb": budget_mb, "frames_on_disk": n, "n_freq": V.shape[0],
           "file_mb": size_mb, "file_over_budget": size_mb / budget_mb, "tiles": tiles,
           "tile_perturbation": "elementwise × uniform [0.9, 1.1), seeded",
           "chunk_frames": chunk, "chunk_mb": chunk * V.shape[0] * 4 / 2**20, "epochs": epochs,
           "forget_factor_per_pass": forget, "rho_per_chunk": rho, "eval_frames": int(eval_frames),
           "eval": "held-out ESC-10 train frames (not on disk); atoms normalised, H by SparseNMF HALS (W fixed, 300 "
                   "sweeps), float64 direct ½‖V − WH‖² per frame",
           "rss": "peak resident set size (VmHWM of /proc/self/status) of a fresh spawned process per side, MiB; "
                  "rss_after_imports_mb is the same before any frame is read",
           "threads": threads,
           "l2i": "SparseNMF(solver='hals').fit_minibatch(DiskFrames, batch_frames=chunk, h_sweeps=10, w_sweeps=3)",
           "sklearn": f"MiniBatchNMF(batch_size=chunk, forget_factor=rho, init='custom').partial_fit per chunk, "
                      f"sklearn {sklearn.__version__} defaults otherwise (30 MU iterations for a chunk's activations)",
           "init": "the same unit-norm W0 (seed 0) on both sides"}
    out["eval_objective_of_W0"] = heldout_objective(W0, V_eval, flush)
    for side in ("l2i", "sklearn"):
        r = _run_isolated(side, str(path), W0, chunk, epochs, rho, threads)
        W = r.pop("W")
        r["eval_objective_per_frame"] = heldout_objective(W, V_eval, flush)
        r["peak_rss_over_imports_mb"] = r["peak_rss_mb"] - r["rss_after_imports_mb"]
        out[side] = r
    path.unlink()
    return out


def machine() -> dict:
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "")
    return {"platform": platform.platform(), "cpu": cpu or platform.processor(), "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "numpy": np.__version__, "sklearn": sklearn.__version__,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "blas": [{k: d.get(k) for k in ("internal_api", "num_threads", "version")} for d in threadpool_info()]}


def report(r):
    print(f"\n== same problem, mu = 0: {r['n_frames']} frames x {r['n_freq']} bins, K={K}, "
          f"target = sklearn after {r['iterations']} iterations ({r['same_problem']['target_objective']:.7g}) ==")
    for k, s in r["same_problem"]["sides"].items():
        line = (f"  {k:18s} {s['iterations']} it, {s['seconds']['median']:.2f} s "
                f"[{s['seconds']['min']:.2f}, {s['seconds']['max']:.2f}], objective {s.get('objective', np.nan):.7g}")
        if "per_iteration_time_ratio" in s:
            p, q = s["per_iteration_time_ratio"], s["time_to_same_objective_ratio"]
            line += (f"; per-iteration ratio {p['median']:.2f}x [{p['min']:.2f}, {p['max']:.2f}], "
                     f"time-to-same-objective ratio {q['median']:.2f}x [{q['min']:.2f}, {q['max']:.2f}]")
        print(line)
    w = r["what_is_solved"]
    print(f"\n== mu = {w['mu']}: what is solved ({w['iterations']} iterations) ==\n"
          f"  sklearn: mean atom norm {w['sklearn_mean_atom_norm']:.3g}, own objective "
          f"{w['sklearn_objective_own_problem']:.7g}, relative error {w['sklearn_relative_error']:.4f}\n"
          f"  l2i:     mean atom norm {w['l2i_mean_atom_norm']:.3g}, own objective "
          f"{w['l2i_objective_own_problem']:.7g}, relative error {w['l2i_relative_error']:.4f}")


def report_new(r):
    s = r.get("solvers")
    if s:
        print(f"\n== solvers, mu = 0: J* = sklearn MU after {s['sklearn_mu_iterations']} iterations "
              f"({s['target_objective_J_star']:.7g}) ==")
        for k, v in s["sides"].items():
            sec = v["seconds"]
            print(f"  {k:26s} {v['iterations_to_J_star']} it, "
                  + (f"{sec['median']:.2f} s [{sec['min']:.2f}, {sec['max']:.2f}]" if sec else "J* not reached"))
        for k in ("ratio_sklearn_mu_time_over_l2i_hals_time_to_J_star", "ratio_sklearn_cd_over_l2i_hals_time_to_J_star"):
            if k in s:
                print(f"  {k}: {s[k]['median']:.2f} [{s[k]['min']:.2f}, {s[k]['max']:.2f}] ({s['l2i_hals_best']})")
    mb = r.get("minibatch")
    if mb:
        print(f"\n== mini-batch, mu = 0: {mb['frames_on_disk']} frames on disk ({mb['file_mb']:.0f} MiB, "
              f"{mb['file_over_budget']:.1f}x the {mb['memory_budget_mb']} MiB budget), chunks of {mb['chunk_frames']}, "
              f"{mb['epochs']} pass(es); held-out objective of W0 {mb['eval_objective_of_W0']:.5g} ==")
        for side in ("l2i", "sklearn"):
            v = mb[side]
            print(f"  {side:8s} {v['seconds']:.1f} s, held-out objective/frame {v['eval_objective_per_frame']:.5g}, "
                  f"peak RSS {v['peak_rss_mb']:.0f} MiB ({v['peak_rss_over_imports_mb']:.0f} over imports)")


def gpu_timing(ds, device, mu, iters):
    Vp = gather_frames(ds, "paper", progress=False)
    P = Problem(Vp)
    m = SparseNMF(K, sparsity=mu, max_iter=5, tol=0, progress=False, device=device)
    m.fit_transform(P.V[:, :2000], W_init=P.W0, H_init=P.H0[:, :2000])  # warm-up
    m.set_params(max_iter=iters)
    torch.cuda.synchronize()
    t = time.perf_counter()
    m.fit_transform(P.V, W_init=P.W0, H_init=P.H0)
    torch.cuda.synchronize()
    return {"device": torch.cuda.get_device_name(), "n_frames": Vp.shape[1], "n_freq": Vp.shape[0], "K": K,
            "mu": mu, "iterations": iters, "seconds": time.perf_counter() - t, "objective": m.objective_}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--mu", type=float, default=0.8, help="L1 weight of the what-is-solved comparison")
    ap.add_argument("--frames", type=int, default=None, help="use a fixed random subset of this many frames")
    ap.add_argument("--no-flush", action="store_true", help="leave denormals unflushed on both sides")
    ap.add_argument("--rtol", type=float, default=1e-6, help="'same objective' means <= target * (1 + rtol)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--gpu-only", action="store_true", help="only time the paper preset on --device")
    ap.add_argument("--json", default=None, help="write the numbers to this JSON file")
    ap.add_argument("--skip-same-problem", action="store_true", help="leave out the MU comparison and what µ solves")
    ap.add_argument("--skip-solvers", action="store_true", help="leave out the HALS / CD time-to-objective part")
    ap.add_argument("--skip-minibatch", action="store_true", help="leave out the mini-batch part")
    ap.add_argument("--hals-inner", type=int, nargs="+", default=[1, 3], help="SparseNMF HALS inner_iter values")
    ap.add_argument("--budget-mb", type=float, default=256.0, help="stated memory budget for the frames (MiB)")
    ap.add_argument("--tiles", type=int, default=12, help="copies of the training frames written to disk")
    ap.add_argument("--chunk-frames", type=int, default=4096, help="frames per mini-batch chunk")
    ap.add_argument("--epochs", type=int, default=1, help="passes over the on-disk frames, both sides")
    ap.add_argument("--eval-frames", type=int, default=4096, help="held-out frames for the mini-batch evaluation")
    ap.add_argument("--forget", type=float, default=0.7, help="weight of past statistics after one pass")
    ap.add_argument("--workdir", default=None, help="where to write the on-disk frames (default: a temp dir)")
    args = ap.parse_args()
    ds = load_dataset("esc10")
    if args.gpu_only:
        results = {"paper_preset_gpu": gpu_timing(ds, args.device, args.mu, args.iters), "machine": machine()}
        print(results)
    else:
        t0, load0 = time.perf_counter(), os.getloadavg()
        V = gather_frames(ds, "cpu", progress=False)
        n_all = V.shape[1]
        if args.frames:
            V = V[:, np.sort(np.random.default_rng(0).choice(n_all, args.frames, replace=False))]
        P, flush = Problem(V), not args.no_flush
        results = {
            "data": "log1p-magnitude frames of the ESC-10 training split, cpu preset (silent frames dropped)",
            "n_freq": V.shape[0], "n_frames": V.shape[1], "n_frames_available": n_all, "K": K,
            "iterations": args.iters, "repeats": args.repeats, "inner_iters": [1, 5], "dtype": "float32",
            "objective": "½‖V − WH‖²_F + µ‖H‖₁ in float64 numpy from the returned factors (direct residual)",
            "timing": "whole fit_transform call from numpy float32 input and given initial factors to returned "
                      "numpy factors, on both sides (input validation/conversion included, no random init)",
            "same_objective_rtol": args.rtol, "denormals_flushed_both_sides": flush,
            "init": "W0 uniform [0, 1) with unit-norm columns, H0 uniform [0, sqrt(mean(V)/K)), seed 0",
            "sklearn_solver": "NMF(solver='mu', beta_loss='frobenius', init='custom', tol=0)",
            "machine": machine(), "machine_info": machine_info(), "load_average_start": load0,
        }
        if not args.skip_same_problem:
            results["same_problem"] = same_problem(P, args.iters, args.repeats, flush, (1, 5), args.rtol)
            results["what_is_solved"] = what_is_solved(P, args.mu, args.iters, flush)
            results["load_average_after_same_problem"] = os.getloadavg()
        if not args.skip_solvers:
            results["solvers"] = solvers(P, args.iters, args.repeats, flush, args.rtol, tuple(args.hals_inner))
            results["load_average_after_solvers"] = os.getloadavg()
        if not args.skip_minibatch:
            with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
                results["minibatch"] = minibatch(V, args.budget_mb, args.tiles, args.chunk_frames, args.epochs,
                                                 args.eval_frames, args.forget, torch.get_num_threads(), flush, tmp)
        results["load_average_end"] = os.getloadavg()
        results["benchmark_seconds"] = time.perf_counter() - t0
        if not args.skip_same_problem:
            report(results)
        report_new(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, ensure_ascii=False)
            f.write("\n")


if __name__ == "__main__":
    main()
