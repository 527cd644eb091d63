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

Usage::

    L2I_DATA=/path/to/data python benchmarks/bench_nmf.py --json benchmarks/results/bench_nmf_cpu.json
    python benchmarks/bench_nmf.py --gpu-only --device cuda   # paper preset timing on a GPU
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings

import numpy as np
import sklearn
import torch
from sklearn.decomposition import NMF
from threadpoolctl import threadpool_info

from l2i_core.data import load_dataset
from l2i_core.nmf.dictionary import gather_frames
from l2i_core.nmf.sparse_nmf import SparseNMF, denormals_flushed, flush_denormals

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
            "machine": machine(), "load_average_start": load0,
        }
        results["same_problem"] = same_problem(P, args.iters, args.repeats, flush, (1, 5), args.rtol)
        results["what_is_solved"] = what_is_solved(P, args.mu, args.iters, flush)
        results["load_average_end"] = os.getloadavg()
        results["benchmark_seconds"] = time.perf_counter() - t0
        report(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, ensure_ascii=False)
            f.write("\n")


if __name__ == "__main__":
    main()
