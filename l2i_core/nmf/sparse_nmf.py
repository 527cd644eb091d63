"""Sparse NMF dictionary learning in torch (CPU or GPU), in the scikit-learn estimator style.

L2I explains a classifier with a fixed dictionary ``W`` (``n_freq × K``, non-negative, unit-L2
columns) learned on log-magnitude frames ``V = log(1 + |X|)`` by

.. math::  \\min_{W \\ge 0, \\|w_k\\|_2 = 1,\\ H \\ge 0}\\ D_\\beta(V \\,|\\, WH) + \\mu \\|H\\|_1

with :math:`D_2 = \\tfrac12\\|V - WH\\|_F^2` (default) or :math:`D_1` the generalised KL divergence.
Two solvers. ``solver='mu'`` (the default): multiplicative updates, with the dictionary update of
Le Roux, Weninger & Hershey ("Sparse NMF – half-baked or well done?", MERL TR2015-023) that
accounts for the unit-norm constraint, followed by renormalisation. ``solver='hals'`` (Frobenius
only): hierarchical alternating least squares, i.e. exact coordinate descent on the rows of H and
the columns of W from the Gram matrices (Cichocki & Phan 2009; Gillis & Glineur 2012), which
reaches a given objective many times sooner. :meth:`SparseNMF.fit_minibatch` learns W from a frame
source that need not fit in memory (online dictionary learning, Mairal et al. 2010).

Orientation differs from scikit-learn on purpose and is the librosa one: ``V`` is
``(n_freq, n_frames)``, ``components_`` is ``W`` with shape ``(n_freq, K)``, and
:meth:`SparseNMF.transform` returns ``H`` with shape ``(K, n_frames)``.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from l2i_core._errors import ParameterError
from l2i_core._utils import resolve_device

__all__ = ["SparseNMF", "flush_denormals", "denormals_flushed", "match_components"]

_EPS = 1e-12
_SOLVERS = ("mu", "hals")
_HALS_CHUNK = 8192  # frames per H-sweep chunk of solver='hals' when batch_size is None (fits in cache)


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


def _squared_norm(V: torch.Tensor, chunks: Sequence[slice] | None = None) -> float:
    """‖V‖²_F summed in float64 over column ``chunks`` (65,536 columns each by default): never a float64
    copy of all of V (4× its float32 size, the largest transient of a fit on SONYC-size frame sets)."""
    if chunks is None:
        chunks = [slice(i, i + 65_536) for i in range(0, V.shape[1], 65_536)]
    return float(sum(float(V[:, sl].double().square().sum()) for sl in chunks))


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
        Frames processed at once: for the KL updates (memory bound; ``None`` = all at once) and for
        the H sweeps of ``solver='hals'`` (``None`` = 8192 frames, a chunk that stays in cache).
    inner_iter : int >= 1
        Multiplicative updates of H, then of W, per iteration (Frobenius loss only). Repeating an
        update re-uses the expensive products ``WᵀV`` and ``VHᵀ``, so 3-5 inner updates reach a
        given objective several times sooner (Gillis & Glineur's accelerated MU); every update
        still never increases the objective. ``1`` is plain alternating MU. With
        ``solver='hals'``: sweeps over the rows of H (per chunk of frames), then over the columns
        of W, per iteration.
    flush_denormals : bool
        Flush float denormals to zero during the fit (much faster on a CPU; restored afterwards).
    progress : bool
        Show a tqdm progress bar.
    solver : {'mu', 'hals'}
        ``'mu'`` (default): multiplicative updates, either loss. ``'hals'``: hierarchical
        alternating least squares (Frobenius loss only), exact coordinate descent on one row of H
        at a time (the L1 weight µ enters as a soft threshold) and one column of W at a time, from
        the Gram matrices ``WᵀV``, ``WᵀW`` (H sweep, by chunks of frames) and ``VHᵀ``, ``HHᵀ``
        (W sweep), so that an iteration costs about what a multiplicative one costs. The unit-norm
        constraint: with µ > 0 each column update is the exact minimiser over non-negative unit
        vectors (the clipped column, normalised); with µ = 0 the column's norm is moved into its
        row of H (WH unchanged). Every sweep never increases the objective. The same seeded
        initialisation as ``'mu'``.

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
        solver: str = "mu",
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
        self.solver = solver

    # -- scikit-learn estimator protocol ------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict:
        """Hyper-parameters as a dict (scikit-learn protocol)."""
        return {k: getattr(self, k) for k in (
            "n_components", "sparsity", "beta_loss", "max_iter", "tol", "random_state", "fixed_components",
            "device", "batch_size", "inner_iter", "flush_denormals", "progress", "solver")}

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
                f"max_iter={self.max_iter}, random_state={self.random_state}"
                + (f", solver={self.solver!r})" if self.solver != "mu" else ")"))

    # -- validation ---------------------------------------------------------------------------
    def _beta(self) -> int:
        b = {"frobenius": 2, "kullback-leibler": 1, "kl": 1}.get(self.beta_loss, self.beta_loss)
        if b not in (1, 2):
            raise ParameterError(f"beta_loss must be 2 ('frobenius') or 1 ('kullback-leibler'), got {self.beta_loss!r}")
        return int(b)

    def _device(self) -> torch.device:
        return resolve_device(self.device)

    def _solver(self) -> str:
        if self.solver not in _SOLVERS:
            raise ParameterError(f"solver must be one of {_SOLVERS}, got {self.solver!r}")
        if self.solver == "hals" and self._beta() != 2:
            raise ParameterError("solver='hals' supports only the Frobenius loss (beta_loss=2); "
                                 "use solver='mu' for the Kullback-Leibler divergence")
        return self.solver

    def _check_params(self, n_frames: int) -> None:
        self._solver()
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

    def fit_minibatch(self, frames, *, batch_frames: int = 4096, n_epochs: int = 1, forget_factor: float = 0.7,
                      h_sweeps: int = 10, w_sweeps: int = 3, n_frames: int | None = None,
                      W_init=None) -> SparseNMF:
        """Learn the dictionary from a frame source read one chunk at a time (online, bounded memory).

        Online dictionary learning (Mairal, Bach, Ponce & Sapiro 2010, as in scikit-learn's
        ``MiniBatchNMF``) with HALS steps: for each chunk ``V_c`` (``n_freq × c``), solve the
        activations with W fixed (``h_sweeps`` HALS sweeps from a constant start, µ as in
        :meth:`fit`), accumulate the sufficient statistics ``A ← ρA + H_c H_cᵀ`` and
        ``B ← ρB + V_c H_cᵀ``, then update W by ``w_sweeps`` HALS sweeps on (A, B) (unit-norm
        atoms, frozen ``fixed_components`` as in :meth:`fit`). Only one chunk is ever in memory:
        peak memory is about ``batch_frames × n_freq`` floats for the chunk plus a few
        ``K × batch_frames`` and ``K × n_freq`` arrays, whatever the number of frames (each chunk
        is copied out of the source; with an ``np.memmap`` the file pages already read stay in
        the OS page cache, reclaimable, and may show in the process's RSS as file-backed pages
        while the map is open). Frobenius loss only, whatever ``solver`` says.

        Parameters
        ----------
        frames : array-like [shape=(n_frames, n_freq)], callable or iterable
            Frames as *rows* (the on-disk layout). Either an object with ``shape`` and row slicing
            (``np.ndarray``, ``np.memmap``, an HDF5 dataset...), read as contiguous chunks of
            ``batch_frames`` rows in a seeded random order (a new order every epoch); or a callable
            returning an iterable of 2-D chunks ``(c, n_freq)``, called once per epoch; or an
            iterable of such chunks (one pass only: ``n_epochs`` must be 1).
        batch_frames : int
            Rows per chunk read from an array-like source (ignored for iterables, whose chunks
            are used as given).
        n_epochs : int
            Passes over the source.
        forget_factor : float in (0, 1]
            Weight of the past statistics after one pass: each chunk of c frames multiplies them
            by ``ρ = forget_factor ** (c / n_frames)`` first (scikit-learn's convention). ``1``:
            no forgetting.
        h_sweeps : int
            HALS sweeps over the rows of a chunk's activations.
        w_sweeps : int
            HALS sweeps over the columns of W after each chunk.
        n_frames : int or None
            Frames per pass of an iterable source, for ρ. ``None``: the number of frames read so
            far in the first pass, then the length of a pass (array-like sources know it).
        W_init : array-like [shape=(n_freq, n_components)] or None
            Initial free atoms; ``None``: the seeded random initialisation of :meth:`fit`.

        Returns
        -------
        self : SparseNMF
            With ``components_``, ``n_iter_`` (chunks processed), ``n_frames_seen_``, and per chunk
            ``batch_objective_history_`` (objective per frame of the chunk's activations, before
            the chunk's dictionary update) and ``seconds_history_``.
        """
        self._check_minibatch(batch_frames, n_epochs, forget_factor, h_sweeps, w_sweeps)
        dev = self._device()
        mu = float(self.sparsity)
        source = self._chunk_source(frames, batch_frames, n_epochs)
        F = source.n_freq
        W = self._init_W(F, dev, W_init)
        K = W.shape[1]
        n_fixed = K - self.n_components
        if source.n_frames is not None and source.n_frames < K:
            raise ParameterError(f"K={K} components for only {source.n_frames} frames; use fewer components or more data")
        A = torch.zeros(K, K, dtype=torch.float64, device=dev)
        Bt = torch.zeros(K, F, dtype=torch.float64, device=dev)
        total = n_frames if n_frames is not None else source.n_frames
        seen, read, n_chunks = 0, 0, 0
        history: list[float] = []
        seconds: list[float] = []
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(desc="sparse NMF (mini-batch)", unit="chunk", leave=False,
                       total=None if source.n_chunks is None else source.n_chunks * n_epochs)
        t_start = time.perf_counter()
        with flush_denormals(self.flush_denormals and dev.type == "cpu"), torch.no_grad():
            for epoch in range(n_epochs):
                for chunk in source.epoch(epoch):
                    Vc = self._chunk_matrix(chunk, F, dev)
                    c = Vc.shape[1]
                    G = W.T @ W
                    inv_diag = [1.0 / g if g > _EPS else 0.0 for g in G.diagonal().tolist()]
                    Hc = torch.full((K, c), float(torch.sqrt(Vc.mean() / K).clamp_min(1e-6)), dtype=Vc.dtype, device=dev)
                    WtV = W.T @ Vc
                    self._hals_H_sweeps(Hc, G, WtV - mu, inv_diag, h_sweeps)
                    HHt = (Hc @ Hc.T).double()
                    l1 = float(Hc.sum(dim=1).double().sum())
                    cross = float((WtV * Hc).sum(dim=1).double().sum())
                    VV = float(Vc.double().square().sum())
                    history.append((max(0.5 * (VV - 2 * cross + float((G.double() * HHt).sum())), 0.0) + mu * l1) / c)
                    seen += c if epoch == 0 else 0
                    read += c
                    rho = float(forget_factor) ** (c / max(total if total is not None else seen, 1))
                    A.mul_(rho).add_(HHt)
                    Bt.mul_(rho).add_((Hc @ Vc.T).double())
                    if n_fixed < K:
                        Wt = W.T.double().contiguous()
                        self._hals_W_sweeps(Wt, A, Bt, n_fixed, mu, w_sweeps)
                        W = Wt.T.to(Vc.dtype).contiguous()
                    n_chunks += 1
                    seconds.append(time.perf_counter() - t_start)
                    if bar is not None:
                        bar.update(1)
                if epoch == 0:
                    total = total if total is not None else seen
        if bar is not None:
            bar.close()
        if n_chunks == 0:
            raise ParameterError("the frame source yielded no frames")
        for stale in ("objective_history_", "objective_", "reconstruction_err_"):  # from an earlier fit
            if hasattr(self, stale):
                delattr(self, stale)
        self.components_ = W.cpu().numpy()
        self.n_components_ = K
        self.n_iter_ = n_chunks
        self.n_frames_seen_ = read
        self.batch_objective_history_ = history
        self.seconds_history_ = seconds
        return self

    def _check_minibatch(self, batch_frames, n_epochs, forget_factor, h_sweeps, w_sweeps) -> None:
        if self._beta() != 2:
            raise ParameterError("fit_minibatch supports only the Frobenius loss (beta_loss=2)")
        if not isinstance(self.n_components, (int, np.integer)) or self.n_components < 1:
            raise ParameterError(f"n_components must be a positive integer, got {self.n_components!r}")
        if self.sparsity < 0:
            raise ParameterError(f"sparsity (µ) must be >= 0, got {self.sparsity}")
        for name, v in (("batch_frames", batch_frames), ("n_epochs", n_epochs), ("h_sweeps", h_sweeps),
                        ("w_sweeps", w_sweeps)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ParameterError(f"{name} must be an integer >= 1, got {v!r}")
        if not 0 < forget_factor <= 1:
            raise ParameterError(f"forget_factor must be in (0, 1], got {forget_factor}")

    def _init_W(self, F: int, dev, W_init) -> torch.Tensor:
        """The initial dictionary of :meth:`_init` (same seeded draw), without the activations."""
        if W_init is None:
            W = torch.rand(F, self.n_components, generator=self._generator()).to(dev) + _EPS
        else:
            W = _as_matrix(W_init, "W_init", dev).clone()
            if W.shape != (F, self.n_components):
                raise ParameterError(f"W_init must have shape {(F, self.n_components)}, got {tuple(W.shape)}")
        if self.fixed_components is not None:
            Wf = _as_matrix(np.asarray(self.fixed_components, dtype=np.float32), "fixed_components", dev)
            if Wf.shape[0] != F:
                raise ParameterError(f"fixed_components has {Wf.shape[0]} rows but the frames have {F} frequency bins")
            W = torch.cat([Wf, W], dim=1)
        return W / W.norm(dim=0, keepdim=True).clamp_min(_EPS)

    def _chunk_source(self, frames, batch_frames: int, n_epochs: int) -> _ChunkSource:
        seed = 0 if self.random_state is None else int(self.random_state)
        return _ChunkSource(frames, int(batch_frames), n_epochs, seed)

    @staticmethod
    def _chunk_matrix(chunk, F: int, dev) -> torch.Tensor:
        """One chunk of rows (c × n_freq) as a validated float32 ``n_freq × c`` tensor (a transposed view)."""
        arr = np.array(chunk, dtype=np.float32)  # a copy: a view of a read-only memmap stays mapped
        if arr.ndim != 2 or arr.shape[1] != F:
            raise ParameterError(f"each chunk of frames must have shape (n, {F}), got {arr.shape}")
        Vc = torch.from_numpy(arr).to(dev).T
        if not torch.isfinite(Vc).all():
            raise ParameterError("a chunk of frames contains NaN or inf values; check the spectrogram computation")
        if (Vc < 0).any():
            raise ParameterError(f"a chunk of frames has negative values (min {Vc.min().item():.3g}); NMF needs log1p(|X|)-like input")
        return Vc

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
            VV = _squared_norm(V)
            return torch.tensor(self._frobenius_objective(VV, W.T @ V, W.T @ W, H, H @ H.T, 0.0), dtype=torch.float64)
        total = V.new_zeros((), dtype=torch.float64)
        for sl in self._chunks(V.shape[1]):
            L = (W @ H[:, sl]).clamp_min(_EPS)
            Vs = V[:, sl]
            total = total + (torch.xlogy(Vs, Vs / L) - Vs + L).sum(dtype=torch.float64)
        return total

    def _chunks(self, n: int, default: int | None = None):
        """Column slices of ``batch_size`` frames (else ``default``, else all ``n`` in one)."""
        step = int(self.batch_size) if self.batch_size else (default or n)
        return [slice(i, min(i + step, n)) for i in range(0, n, step)]

    def _progress_bar(self, desc: str):
        """A tqdm bar over ``max_iter`` iterations, or None without ``progress``."""
        if not self.progress:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=self.max_iter, desc=desc, unit="it", leave=False)

    def _record_fit(self, final_div: float, l1: float, history: list, seconds: list, t_start: float, n_iter: int, *,
                    warn: bool) -> None:
        """Close a recorded fit: the final iterate's objective, the fitted attributes, and a warning when
        ``warn`` (W was learned and ``tol`` was not reached) and ``tol > 0``."""
        history.append(final_div + l1)
        seconds.append(time.perf_counter() - t_start)
        if warn and self.tol > 0:
            warnings.warn(f"SparseNMF: max_iter={self.max_iter} reached before tol={self.tol}", stacklevel=4)
        self.objective_history_ = history
        self.seconds_history_ = seconds
        self.objective_ = history[-1]
        self.reconstruction_err_ = final_div
        self.n_iter_ = n_iter

    def _after_iteration(self, bar, history: list, n_iter: int, record: bool) -> bool:
        """Advance the progress bar (the objective every 10 iterations); whether ``tol`` is reached: the
        objective fell by less than ``tol`` (relative to the first) over the last 10 iterations."""
        if bar is not None:
            bar.update(1)
            if record and n_iter % 10 == 0:
                bar.set_postfix(objective=f"{history[-1]:.5g}")
        return bool(record and self.tol > 0 and n_iter % 10 == 0 and len(history) > 10
                    and (history[-11] - history[-1]) / max(history[0], _EPS) < self.tol)

    def _solve(self, V, W, H, *, update_W: bool, n_fixed: int, record: bool = True):
        if self._solver() == "hals":
            return self._solve_hals(V, W, H, update_W=update_W, n_fixed=n_fixed, record=record)
        beta, mu = self._beta(), float(self.sparsity)
        learn_W = update_W and n_fixed < W.shape[1]
        bar = self._progress_bar("sparse NMF" if update_W else "NMF transform")
        history: list[float] = []
        seconds: list[float] = []
        t_start = time.perf_counter()
        converged = False
        n_iter = 0
        VV = _squared_norm(V) if beta == 2 else 0.0
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
                if self._after_iteration(bar, history, n_iter, record):
                    converged = True
                    break
        if bar is not None:
            bar.close()
        if record:
            self._record_fit(float(self._divergence(V, W, H)), mu * float(H.sum(dtype=torch.float64)), history,
                             seconds, t_start, n_iter, warn=update_W and not converged)
        return W, H

    # -- HALS ---------------------------------------------------------------------------------
    @staticmethod
    def _hals_H_sweeps(Hc, G, Bmu, inv_diag, sweeps: int) -> None:
        """Coordinate descent on the rows of ``Hc`` (K × c, contiguous, updated in place).

        Row k minimises ½‖V − WH‖² + µ‖H‖₁ over h_k ≥ 0 with the other rows fixed:
        ``h_k ← max(0, h_k + (b_k − µ − g_kᵀ H) / g_kk)``, given ``G = WᵀW`` and ``Bmu = WᵀV − µ``.
        """
        buf = torch.empty(Hc.shape[1], dtype=Hc.dtype, device=Hc.device)
        Ht = Hc.t()
        for _ in range(sweeps):
            for k, inv in enumerate(inv_diag):
                if inv == 0.0:  # a zero atom (g_kk = 0): its activation has no effect, keep it at 0
                    Hc[k].zero_()
                    continue
                torch.addmv(Bmu[k], Ht, G[k], alpha=-1.0, out=buf)
                Hc[k].add_(buf, alpha=inv).clamp_(min=0.0)

    @staticmethod
    def _hals_W_sweeps(Wt, A, Bt, n_fixed: int, mu: float, sweeps: int) -> torch.Tensor:
        """Coordinate descent on the free rows of ``Wt`` (= Wᵀ, K × F, float64, updated in place).

        ``A = HHᵀ`` (K × K) and ``Bt = HVᵀ`` (K × F) are float64. For atom k, ``p = b_k − Σ_{j≠k} A_kj w_j``
        and the block minimiser is ``max(0, p) / A_kk`` without the norm constraint. µ > 0: the
        constrained minimiser over unit non-negative vectors, ``max(0, p) / ‖max(0, p)‖`` (or the
        unit vector at argmax p when p ≤ 0), H unchanged. µ = 0: the unconstrained minimiser, whose
        norm s_k is moved into row k of H; ``A`` and ``Bt`` are rescaled in place to match.

        Returns the per-atom scale s (ones for µ > 0) by which the caller multiplies the rows of H.
        """
        K = Wt.shape[0]
        scale = torch.ones(K, dtype=Wt.dtype, device=Wt.device)
        p = torch.empty(Wt.shape[1], dtype=Wt.dtype, device=Wt.device)
        for _ in range(sweeps):
            for k in range(n_fixed, K):
                akk = float(A[k, k])
                torch.addmv(Bt[k], Wt.t(), A[k], alpha=-1.0, out=p)  # b_k − Σ_j A_kj w_j
                p.add_(Wt[k], alpha=akk)  # + A_kk w_k: the residual without atom k
                u = p.clamp(min=0.0)
                n = float(u.norm())
                if n > _EPS:
                    Wt[k] = u / n
                    s = n / akk if mu == 0.0 else 1.0
                else:  # no positive part: the best unit atom is the coordinate vector at argmax p
                    Wt[k].zero_()
                    Wt[k, int(p.argmax())] = 1.0
                    s = 0.0 if mu == 0.0 else 1.0  # µ = 0: the block minimiser is a zero atom, H row 0
                if s != 1.0:
                    A[k].mul_(s)
                    A[:, k].mul_(s)
                    Bt[k].mul_(s)
                    scale[k] *= s
        return scale

    def _solve_hals(self, V, W, H, *, update_W: bool, n_fixed: int, record: bool = True):
        """HALS iterations, recording the objective of every iterate as :meth:`_solve` does."""
        mu = float(self.sparsity)
        learn_W = update_W and n_fixed < W.shape[1]
        chunks = self._chunks(V.shape[1], _HALS_CHUNK)
        bar = self._progress_bar("sparse NMF (HALS)" if update_W else "NMF transform (HALS)")
        history: list[float] = []
        seconds: list[float] = []
        t_start = time.perf_counter()
        converged = False
        n_iter = 0
        H = H.contiguous()
        with flush_denormals(self.flush_denormals and V.device.type == "cpu"), torch.no_grad():
            if not learn_W and not record:
                # W fixed: the chunks are independent problems; all the sweeps of a chunk while it is in cache
                G = W.T @ W
                inv_diag = [1.0 / g if g > _EPS else 0.0 for g in G.diagonal().tolist()]
                for sl in chunks:
                    Hc = H[:, sl].contiguous()
                    self._hals_H_sweeps(Hc, G, (W.T @ V[:, sl]).sub_(mu), inv_diag, self.max_iter)
                    H[:, sl] = Hc
                    if bar is not None:
                        bar.update(self.max_iter * (sl.stop - sl.start) / V.shape[1])
                if bar is not None:
                    bar.close()
                return W, H
            VV = _squared_norm(V, chunks)
            A = (H @ H.T).double()  # HHᵀ of the current iterate, kept up to date
            for n_iter in range(1, self.max_iter + 1):
                t_iter = time.perf_counter() - t_start
                G = W.T @ W
                inv_diag = [1.0 / g if g > _EPS else 0.0 for g in G.diagonal().tolist()]
                cross = 0.0
                l1 = float(H.sum(dim=1).double().sum()) if record else 0.0
                A_new = torch.zeros_like(A)
                Bt = torch.zeros(W.shape[1], W.shape[0], dtype=torch.float64, device=W.device) if learn_W else None
                for sl in chunks:
                    Vc = V[:, sl]
                    Hc = H[:, sl].contiguous()
                    WtV = W.T @ Vc
                    if record:
                        cross += float((WtV * Hc).sum(dim=1).double().sum())
                    self._hals_H_sweeps(Hc, G, WtV.sub_(mu), inv_diag, self.inner_iter)
                    H[:, sl] = Hc
                    A_new += (Hc @ Hc.T).double()
                    if learn_W:
                        Bt += (Hc @ Vc.T).double()
                if record:
                    history.append(max(0.5 * (VV - 2 * cross + float((G.double() * A).sum())), 0.0) + mu * l1)
                    seconds.append(t_iter)
                A = A_new
                if learn_W:
                    Wt = W.T.double().contiguous()
                    scale = self._hals_W_sweeps(Wt, A, Bt, n_fixed, mu, self.inner_iter)
                    W = Wt.T.to(V.dtype).contiguous()
                    if mu == 0.0:
                        H.mul_(scale.to(H.dtype)[:, None])
                if self._after_iteration(bar, history, n_iter, record):
                    converged = True
                    break
        if bar is not None:
            bar.close()
        if record:
            self._record_fit(self._frobenius_direct(V, W, H, chunks), mu * float(H.sum(dim=1).double().sum()), history,
                             seconds, t_start, n_iter, warn=update_W and not converged)
        return W, H

    @staticmethod
    def _frobenius_direct(V, W, H, chunks) -> float:
        """½‖V − WH‖²_F from the residual, chunk by chunk, squares summed in float64."""
        total = 0.0
        for sl in chunks:
            R = V[:, sl] - W @ H[:, sl]
            total += float(R.double().square().sum())
        return 0.5 * total

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


class _ChunkSource:
    """Chunks of frames (rows) from an array-like, a callable returning an iterable, or an iterable."""

    def __init__(self, frames, batch_frames: int, n_epochs: int, seed: int):
        self.frames, self.batch_frames, self.seed = frames, batch_frames, seed
        self.n_frames = self.n_chunks = None
        if hasattr(frames, "shape") and hasattr(frames, "__getitem__"):
            if len(frames.shape) != 2:
                raise ParameterError(f"frames must be 2-D (n_frames, n_freq), got shape {tuple(frames.shape)}")
            self.kind = "array"
            self.n_frames, self.n_freq = int(frames.shape[0]), int(frames.shape[1])
            self.n_chunks = -(-self.n_frames // batch_frames)
            return
        if callable(frames):
            self.kind, first = "callable", iter(frames())
        elif hasattr(frames, "__iter__"):
            if n_epochs != 1:
                raise ParameterError("an iterable of chunks can be read only once: use n_epochs=1, or pass a "
                                     "callable that returns a fresh iterable for every epoch")
            self.kind, first = "iterable", iter(frames)
        else:
            raise ParameterError("frames must be a 2-D array-like (n_frames, n_freq), a callable returning an "
                                 f"iterable of chunks, or an iterable of chunks; got {type(frames).__name__}")
        try:
            head = next(first)
        except StopIteration:
            raise ParameterError("the frame source yielded no frames") from None
        if np.ndim(head) != 2:
            raise ParameterError(f"each chunk of frames must be 2-D (n, n_freq), got shape {np.shape(head)}")
        self.n_freq = int(np.shape(head)[1])
        self._pending = (head, first)

    def epoch(self, epoch: int):
        if self.kind == "array":
            order = np.random.default_rng([self.seed, epoch]).permutation(self.n_chunks)
            for i in order:
                start = int(i) * self.batch_frames
                yield self.frames[start:min(start + self.batch_frames, self.n_frames)]
            return
        if self._pending is not None:
            head, rest = self._pending
            self._pending = None
            yield head
            yield from rest
        else:
            yield from self.frames()


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
