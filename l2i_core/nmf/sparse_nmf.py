"""Sparse NMF dictionary learning in torch (CPU or GPU), in the scikit-learn estimator style.

L2I explains a classifier with a fixed dictionary ``W`` (``n_freq × K``, non-negative, unit-L2
columns) learned on log-magnitude frames ``V = log(1 + |X|)`` by

.. math::  \\min_{W \\ge 0, \\|w_k\\|_2 = 1,\\ H \\ge 0}\\ D_\\beta(V \\,|\\, WH) + \\mu \\|H\\|_1

with :math:`D_2 = \\tfrac12\\|V - WH\\|_F^2` (default) or :math:`D_1` the generalised KL divergence.
Updates are multiplicative, with the dictionary update of Le Roux, Weninger & Hershey
("Sparse NMF – half-baked or well done?", MERL TR2015-023) that accounts for the unit-norm
constraint, followed by renormalisation.

Orientation differs from scikit-learn on purpose and is the librosa one: ``V`` is
``(n_freq, n_frames)``, ``components_`` is ``W`` with shape ``(n_freq, K)``, and
:meth:`SparseNMF.transform` returns ``H`` with shape ``(K, n_frames)``.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator

import numpy as np
import torch

from l2i_core._errors import ParameterError
from l2i_core._utils import resolve_device

__all__ = ["SparseNMF", "flush_denormals", "denormals_flushed", "match_components"]

_EPS = 1e-12


def denormals_flushed() -> bool:
    """Whether the CPU currently flushes float denormals to zero (probed, torch has no getter)."""
    tiny = torch.tensor([1e-40], dtype=torch.float32)  # a float32 denormal
    return bool((tiny * 1.0).item() == 0.0)


@contextlib.contextmanager
def flush_denormals(enable: bool = True) -> Iterator[None]:
    """Flush float denormals to zero inside the block, and restore the previous state after.

    The L1 penalty drives many activations towards zero; on a CPU, arithmetic on the resulting
    denormal floats is an order of magnitude slower. Flushing them changes no result that matters
    (values below 1e-38) and makes the CPU loop several times faster.
    """
    previous = denormals_flushed()
    changed = enable and not previous and torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if changed:
            torch.set_flush_denormal(previous)


def _as_matrix(V, name: str, device, dtype=torch.float32) -> torch.Tensor:
    if isinstance(V, np.ndarray):
        V = torch.from_numpy(np.ascontiguousarray(V))
    if not torch.is_tensor(V):
        raise ParameterError(f"{name} must be a numpy array or a torch tensor, got {type(V).__name__}")
    if V.ndim != 2:
        raise ParameterError(f"{name} must be 2-D (n_freq, n_frames), got shape {tuple(V.shape)}")
    V = V.to(device=device, dtype=dtype)
    if not torch.isfinite(V).all():
        raise ParameterError(f"{name} contains NaN or inf values; check the spectrogram computation")
    if (V < 0).any():
        raise ParameterError(f"{name} has negative values (min {V.min().item():.3g}); NMF needs a non-negative input such as log1p(|X|)")
    return V


class SparseNMF:
    """Sparse NMF with unit-norm dictionary columns, on any torch device.

    Parameters
    ----------
    n_components : int
        Number of atoms learned, K (not counting ``fixed_components``).
    sparsity : float >= 0
        L1 weight µ on the activations (0.8 in the official L2I dictionaries).
    beta_loss : {2, 1, 'frobenius', 'kullback-leibler'}
        Divergence: 2 = ½ squared Frobenius (default), 1 = generalised Kullback-Leibler.
    max_iter : int
        Maximum number of iterations.
    tol : float
        Stop when the objective's decrease over 10 iterations, relative to the initial objective,
        falls below ``tol``.
    random_state : int or None
        Seed of the random initialisation (``None`` means 0: every run is reproducible).
    fixed_components : array-like [shape=(n_freq, n_fixed)] or None
        Atoms kept frozen during ``fit`` (e.g. noise atoms). They come *first* in
        ``components_``; their activations are learned like the others.
    device : str or torch.device or None
        Where to compute (``'cpu'``, ``'cuda'``...). ``None``: CUDA if available, else CPU.
    batch_size : int or None
        Frames processed at once for the KL updates (memory bound); ``None`` = all at once.
    inner_iter : int >= 1
        Multiplicative updates of H, then of W, per iteration (Frobenius loss only). Repeating an
        update re-uses the expensive products ``WᵀV`` and ``VHᵀ``, so 3-5 inner updates reach a
        given objective several times sooner (Gillis & Glineur's accelerated MU); every update
        still never increases the objective. ``1`` is plain alternating MU.
    flush_denormals : bool
        Flush float denormals to zero during the fit (much faster on a CPU; restored afterwards).
    progress : bool
        Show a tqdm progress bar.

    Attributes
    ----------
    components_ : np.ndarray [shape=(n_freq, n_fixed + n_components)]
        The dictionary W, unit-L2 columns.
    reconstruction_err_ : float
        Final divergence D(V | WH) (½‖V−WH‖² for Frobenius), without the L1 term.
    objective_ : float
        Final objective D(V | WH) + µ‖H‖₁.
    objective_history_ : list of float
        Objective of the iterate entering every iteration (index 0: the initialisation), and the
        final objective last. For the Frobenius loss it is computed from the expansion
        ½(‖V‖² − 2⟨WᵀV, H⟩ + ⟨WᵀW, HHᵀ⟩) with float64 sums of float32 products; it agrees with
        the direct float64 residual ½‖V − WH‖² + µ‖H‖₁ to within about 1e-6 of ½‖V‖² (so to
        less relative accuracy when the fit is nearly exact).
    seconds_history_ : list of float
        Wall-clock seconds since the start of the fit at which each objective was reached.
    n_iter_ : int
        Number of iterations run.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> V = rng.random((20, 300)).astype(np.float32)
    >>> nmf = SparseNMF(n_components=5, sparsity=0.1, max_iter=50, progress=False, device="cpu")
    >>> H = nmf.fit_transform(V)
    >>> nmf.components_.shape, H.shape
    ((20, 5), (5, 300))
    """

    def __init__(
        self,
        n_components: int = 100,
        *,
        sparsity: float = 0.8,
        beta_loss: float | str = 2,
        max_iter: int = 200,
        tol: float = 1e-4,
        random_state: int | None = 0,
        fixed_components=None,
        device: str | torch.device | None = None,
        batch_size: int | None = None,
        inner_iter: int = 1,
        flush_denormals: bool = True,
        progress: bool = True,
    ):
        self.n_components = n_components
        self.sparsity = sparsity
        self.beta_loss = beta_loss
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.fixed_components = fixed_components
        self.device = device
        self.batch_size = batch_size
        self.inner_iter = inner_iter
        self.flush_denormals = flush_denormals
        self.progress = progress

    # -- scikit-learn estimator protocol ------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict:
        """Hyper-parameters as a dict (scikit-learn protocol)."""
        return {k: getattr(self, k) for k in (
            "n_components", "sparsity", "beta_loss", "max_iter", "tol", "random_state", "fixed_components",
            "device", "batch_size", "inner_iter", "flush_denormals", "progress")}

    def set_params(self, **params) -> SparseNMF:
        """Set hyper-parameters (scikit-learn protocol)."""
        valid = self.get_params()
        for k, v in params.items():
            if k not in valid:
                raise ParameterError(f"SparseNMF has no parameter {k!r}; valid: {sorted(valid)}")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        return (f"SparseNMF(n_components={self.n_components}, sparsity={self.sparsity}, beta_loss={self.beta_loss}, "
                f"max_iter={self.max_iter}, random_state={self.random_state})")

    # -- validation ---------------------------------------------------------------------------
    def _beta(self) -> int:
        b = {"frobenius": 2, "kullback-leibler": 1, "kl": 1}.get(self.beta_loss, self.beta_loss)
        if b not in (1, 2):
            raise ParameterError(f"beta_loss must be 2 ('frobenius') or 1 ('kullback-leibler'), got {self.beta_loss!r}")
        return int(b)

    def _device(self) -> torch.device:
        return resolve_device(self.device)

    def _check_params(self, n_frames: int) -> None:
        if not isinstance(self.n_components, (int, np.integer)) or self.n_components < 1:
            raise ParameterError(f"n_components must be a positive integer, got {self.n_components!r}")
        if self.sparsity < 0:
            raise ParameterError(f"sparsity (µ) must be >= 0, got {self.sparsity}")
        if self.max_iter < 1:
            raise ParameterError(f"max_iter must be >= 1, got {self.max_iter}")
        if not isinstance(self.inner_iter, (int, np.integer)) or self.inner_iter < 1:
            raise ParameterError(f"inner_iter must be an integer >= 1, got {self.inner_iter!r}")
        k_total = self.n_components + (0 if self.fixed_components is None else np.shape(self.fixed_components)[1])
        if k_total > n_frames:
            raise ParameterError(
                f"K={k_total} components for only {n_frames} frames; use fewer components or more data"
            )

    # -- public API ---------------------------------------------------------------------------
    def fit(self, V, y=None, *, W_init=None, H_init=None) -> SparseNMF:
        """Learn the dictionary from ``V`` (``n_freq × n_frames``, non-negative)."""
        self.fit_transform(V, W_init=W_init, H_init=H_init)
        return self

    def fit_transform(self, V, y=None, *, W_init=None, H_init=None) -> np.ndarray:
        """Learn the dictionary and return the activations H (``K × n_frames``)."""
        dev = self._device()
        V = _as_matrix(V, "V", dev)
        self._check_params(V.shape[1])
        W, H = self._init(V, W_init, H_init)
        n_fixed = 0 if self.fixed_components is None else W.shape[1] - self.n_components
        W, H = self._solve(V, W, H, update_W=True, n_fixed=n_fixed)
        self.components_ = W.cpu().numpy()
        self.n_components_ = W.shape[1]
        return H.cpu().numpy()

    def transform(self, V, *, H_init=None, max_iter: int | None = None) -> np.ndarray:
        """Activations H (``K × n_frames``) of ``V`` for the learned, fixed dictionary."""
        if not hasattr(self, "components_"):
            raise ParameterError("this SparseNMF is not fitted yet; call fit(V) first")
        dev = self._device()
        V = _as_matrix(V, "V", dev)
        W = torch.as_tensor(self.components_, device=dev)
        if V.shape[0] != W.shape[0]:
            raise ParameterError(f"V has {V.shape[0]} frequency bins but the dictionary has {W.shape[0]}")
        H = self._init_H(V, W) if H_init is None else _as_matrix(H_init, "H_init", dev).clone()
        saved = self.max_iter
        try:
            if max_iter is not None:
                self.max_iter = max_iter
            _, H = self._solve(V, W, H, update_W=False, n_fixed=W.shape[1], record=False)
        finally:
            self.max_iter = saved
        return H.cpu().numpy()

    def objective(self, V, H=None) -> float:
        """D(V | WH) + µ‖H‖₁ for the learned W (H from :meth:`transform` when not given)."""
        dev = self._device()
        V = _as_matrix(V, "V", dev)
        W = torch.as_tensor(self.components_, device=dev)
        H = torch.as_tensor(self.transform(V) if H is None else H, device=dev, dtype=V.dtype)
        return float(self._divergence(V, W, H)) + self.sparsity * float(H.sum(dtype=torch.float64))

    # -- internals ----------------------------------------------------------------------------
    def _generator(self) -> torch.Generator:
        return torch.Generator(device="cpu").manual_seed(0 if self.random_state is None else int(self.random_state))

    def _init_H(self, V: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        g = self._generator()
        scale = float(torch.sqrt(V.mean() / W.shape[1]).clamp_min(1e-6))
        return (torch.rand(W.shape[1], V.shape[1], generator=g) * scale).to(V.device) + _EPS

    def _init(self, V, W_init, H_init):
        dev, F = V.device, V.shape[0]
        g = self._generator()
        if W_init is None:
            W = torch.rand(F, self.n_components, generator=g).to(dev) + _EPS
        else:
            W = _as_matrix(W_init, "W_init", dev).clone()
            if W.shape != (F, self.n_components):
                raise ParameterError(f"W_init must have shape {(F, self.n_components)}, got {tuple(W.shape)}")
        if self.fixed_components is not None:
            Wf = _as_matrix(np.asarray(self.fixed_components, dtype=np.float32), "fixed_components", dev)
            if Wf.shape[0] != F:
                raise ParameterError(f"fixed_components has {Wf.shape[0]} rows but V has {F} frequency bins")
            W = torch.cat([Wf, W], dim=1)
        W = W / W.norm(dim=0, keepdim=True).clamp_min(_EPS)
        if H_init is None:
            scale = float(torch.sqrt(V.mean() / W.shape[1]).clamp_min(1e-6))
            H = (torch.rand(W.shape[1], V.shape[1], generator=g) * scale).to(dev) + _EPS
        else:
            H = _as_matrix(H_init, "H_init", dev).clone()
            if H.shape != (W.shape[1], V.shape[1]):
                raise ParameterError(f"H_init must have shape {(W.shape[1], V.shape[1])}, got {tuple(H.shape)}")
        return W, H

    def _divergence(self, V, W, H) -> torch.Tensor:
        if self._beta() == 2:
            # ½‖V − WH‖² = ½(‖V‖² − 2⟨WᵀV, H⟩ + ⟨WᵀW, HHᵀ⟩), without forming WH; sums in float64
            VV = float((V.double() * V.double()).sum())
            return torch.tensor(self._frobenius_objective(VV, W.T @ V, W.T @ W, H, H @ H.T, 0.0), dtype=torch.float64)
        total = V.new_zeros((), dtype=torch.float64)
        for sl in self._chunks(V.shape[1]):
            L = (W @ H[:, sl]).clamp_min(_EPS)
            Vs = V[:, sl]
            total = total + (torch.xlogy(Vs, Vs / L) - Vs + L).sum(dtype=torch.float64)
        return total

    def _chunks(self, n: int):
        step = n if not self.batch_size else int(self.batch_size)
        return [slice(i, min(i + step, n)) for i in range(0, n, step)]

    def _solve(self, V, W, H, *, update_W: bool, n_fixed: int, record: bool = True):
        beta, mu = self._beta(), float(self.sparsity)
        learn_W = update_W and n_fixed < W.shape[1]
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=self.max_iter, desc="sparse NMF" if update_W else "NMF transform", unit="it", leave=False)
        history: list[float] = []
        seconds: list[float] = []
        t_start = time.perf_counter()
        converged = False
        n_iter = 0
        VV = float((V.double() * V.double()).sum()) if beta == 2 else 0.0
        WtV = WtW = None
        with flush_denormals(self.flush_denormals and V.device.type == "cpu"), torch.no_grad():
            HHt = H @ H.T
            for n_iter in range(1, self.max_iter + 1):
                if beta == 2:
                    if WtV is None or learn_W:  # with W fixed these never change
                        WtV, WtW = W.T @ V, W.T @ W
                    if record:  # objective of the current (W, H), from products the update needs anyway
                        history.append(self._frobenius_objective(VV, WtV, WtW, H, HHt, mu))
                        seconds.append(time.perf_counter() - t_start)
                    for _ in range(self.inner_iter):
                        den = (WtW @ H).add_(mu).clamp_min_(_EPS)
                        H = H * WtV
                        H.div_(den)
                    if learn_W or record:
                        HHt = H @ H.T
                    if learn_W:
                        N = V @ H.T
                        for _ in range(self.inner_iter):
                            W, H, N, HHt = self._update_W_frobenius(W, H, N, HHt, n_fixed, mu)
                else:
                    if record:
                        history.append(float(self._divergence(V, W, H)) + mu * float(H.sum(dtype=torch.float64)))
                        seconds.append(time.perf_counter() - t_start)
                    H = self._update_H_kl(V, W, H, mu)
                    if learn_W:
                        W = self._update_W_kl(V, W, H, n_fixed)
                if bar is not None:
                    bar.update(1)
                    if record and n_iter % 10 == 0:
                        bar.set_postfix(objective=f"{history[-1]:.5g}")
                if record and self.tol > 0 and n_iter % 10 == 0 and len(history) > 10:
                    if (history[-11] - history[-1]) / max(history[0], _EPS) < self.tol:
                        converged = True
                        break
        if bar is not None:
            bar.close()
        if record:
            final_div = float(self._divergence(V, W, H))
            history.append(final_div + mu * float(H.sum(dtype=torch.float64)))
            seconds.append(time.perf_counter() - t_start)
            if update_W and self.tol > 0 and not converged:
                warnings.warn(f"SparseNMF: max_iter={self.max_iter} reached before tol={self.tol}", stacklevel=3)
            self.objective_history_ = history
            self.seconds_history_ = seconds
            self.objective_ = history[-1]
            self.reconstruction_err_ = final_div
            self.n_iter_ = n_iter
        return W, H

    @staticmethod
    def _frobenius_objective(VV, WtV, WtW, H, HHt, mu) -> float:
        """½‖V − WH‖² + µ‖H‖₁ from WᵀV, WᵀW, HHᵀ (sums accumulated in float64: the expansion cancels)."""
        # float32 row sums (torch sums floats by cascade summation) added up in float64: as accurate
        # as a float64 sum for the monotonicity checks, and several times cheaper.
        cross = float((WtV * H).sum(dim=1).double().sum())
        gram = float((WtW.double() * HHt.double()).sum())
        return max(0.5 * (VV - 2 * cross + gram), 0.0) + mu * float(H.sum(dim=1).double().sum())

    @staticmethod
    def _renormalise(W_new, W, n_fixed):
        W_new = W_new / W_new.norm(dim=0, keepdim=True).clamp_min(_EPS)
        if n_fixed:
            W_new[:, :n_fixed] = W[:, :n_fixed]
        return W_new

    def _update_W_frobenius(self, W, H, N, HHt, n_fixed, mu):
        """One dictionary update for ½‖V − WH‖² + µ‖H‖₁, given N = V Hᵀ and HHt = H Hᵀ.

        µ > 0: Le Roux et al.'s update, from the gradient w.r.t. the *normalised* W split into
        positive and negative parts, W ⊙ (N + W ⊙ 1ᵀ(P ⊙ W)) / (P + W ⊙ 1ᵀ(N ⊙ W)), P = W HHᵀ,
        then renormalisation. µ = 0: the unit-norm constraint does not change the objective, so the
        plain Lee-Seung update W ⊙ N / P (monotone) is followed by moving each atom's norm into its
        activations, which leaves WH, and so the objective, unchanged.
        """
        P = W @ HHt
        if mu > 0:
            num = N + W * (P * W).sum(dim=0, keepdim=True)
            den = P + W * (N * W).sum(dim=0, keepdim=True)
            return self._renormalise(W * num / den.clamp_min(_EPS), W, n_fixed), H, N, HHt
        W_new = W * N / P.clamp_min(_EPS)
        if n_fixed:
            W_new[:, :n_fixed] = W[:, :n_fixed]
        norms = W_new.norm(dim=0).clamp_min(_EPS)
        W_new = W_new / norms
        # move the norms into H; N = V Hᵀ and H Hᵀ scale along with it
        return W_new, H * norms[:, None], N * norms[None, :], HHt * norms[:, None] * norms[None, :]

    def _update_H_kl(self, V, W, H, mu):
        out = torch.empty_like(H)
        colsum = W.sum(dim=0, keepdim=True).T  # Wᵀ 1
        for sl in self._chunks(V.shape[1]):
            L = (W @ H[:, sl]).clamp_min(_EPS)
            out[:, sl] = H[:, sl] * (W.T @ (V[:, sl] / L)) / (colsum + mu)
        return out

    def _update_W_kl(self, V, W, H, n_fixed):
        # Same normalised-gradient form with N = (V / WH) Hᵀ and P = 1 Hᵀ.
        N = torch.zeros_like(W)
        for sl in self._chunks(V.shape[1]):
            L = (W @ H[:, sl]).clamp_min(_EPS)
            N += (V[:, sl] / L) @ H[:, sl].T
        P = H.sum(dim=1, keepdim=True).T.expand_as(W)
        num = N + W * (P * W).sum(dim=0, keepdim=True)
        den = P + W * (N * W).sum(dim=0, keepdim=True)
        return self._renormalise(W * num / den.clamp_min(_EPS), W, n_fixed)


def match_components(W_true: np.ndarray, W_est: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Match estimated atoms to true atoms (Hungarian algorithm on cosine similarity).

    Returns
    -------
    order : np.ndarray [shape=(K,)]
        ``W_est[:, order[k]]`` is matched to ``W_true[:, k]``.
    cosine : np.ndarray [shape=(K,)]
        Cosine similarity of each matched pair.
    """
    from scipy.optimize import linear_sum_assignment

    A = W_true / np.linalg.norm(W_true, axis=0, keepdims=True).clip(_EPS)
    B = W_est / np.linalg.norm(W_est, axis=0, keepdims=True).clip(_EPS)
    sim = A.T @ B
    rows, cols = linear_sum_assignment(-sim)
    return cols[np.argsort(rows)], sim[rows, cols][np.argsort(rows)]
