"""SparseNMF's HALS solver and mini-batch (online) mode, on data whose answer is known by construction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from l2i_core import ParameterError
from l2i_core.nmf.sparse_nmf import SparseNMF, match_components


def _planted(F=64, K=8, N=1000, density=0.3, seed=0, noise=0.0):
    """V = W* H* (+ noise) with unit-norm, fairly distinct non-negative atoms and sparse activations."""
    rng = np.random.default_rng(seed)
    W = rng.random((F, K)) ** 4
    W /= np.linalg.norm(W, axis=0)
    H = rng.gamma(2.0, 1.0, (K, N)) * (rng.random((K, N)) < density)
    V = W @ H + noise * rng.random((F, N))
    return V.astype(np.float32), W, H


def _hals(K, **kw):
    return SparseNMF(K, **{"sparsity": 0.0, "max_iter": 100, "tol": 0, "progress": False, "device": "cpu",
                           "solver": "hals", **kw})


def _direct_objective(V, W, H, mu):
    R = V.astype(np.float64) - W.astype(np.float64) @ H.astype(np.float64)
    return 0.5 * float(np.sum(R * R)) + mu * float(H.astype(np.float64).sum())


def test_hals_recovers_planted_factors_exactly():
    V, W_true, _ = _planted()
    m = _hals(8, max_iter=100)
    H = m.fit_transform(V)
    half_VV = 0.5 * float(np.sum(V.astype(np.float64) ** 2))
    assert m.objective_ < 1e-5 * half_VV  # exact low-rank data: the objective goes to ~0
    assert _direct_objective(V, m.components_, H, 0.0) == pytest.approx(m.objective_, abs=1e-8 * half_VV)
    _, cos = match_components(W_true, m.components_)
    assert cos.min() > 0.999, cos
    np.testing.assert_allclose(np.linalg.norm(m.components_, axis=0), 1.0, atol=1e-5)
    assert (m.components_ >= 0).all() and (H >= 0).all()


@pytest.mark.parametrize("mu,inner", [(0.0, 1), (0.5, 1), (0.0, 3), (0.5, 3)])
def test_hals_objective_never_increases(mu, inner):
    V, _, _ = _planted(noise=0.05)
    m = _hals(8, sparsity=mu, max_iter=40, inner_iter=inner, batch_size=300)
    H = m.fit_transform(V)
    h = np.asarray(m.objective_history_)
    assert len(h) == 41 and len(m.seconds_history_) == 41 and np.all(np.diff(m.seconds_history_) >= 0)
    half_VV = 0.5 * float(np.sum(V.astype(np.float64) ** 2))
    # the history uses the Gram expansion (float32 products): rounding-level wiggles only
    assert np.all(np.diff(h) <= 1e-6 * half_VV), np.diff(h).max()
    assert h[-1] < 0.5 * h[0]
    assert h[-1] == pytest.approx(_direct_objective(V, m.components_, H, mu), rel=1e-6)


def test_hals_larger_mu_gives_sparser_activations():
    V, _, _ = _planted(N=1500, density=0.5)
    l1, zeros = [], []
    for mu in (0.0, 0.5, 5.0):
        H = _hals(8, sparsity=mu, max_iter=80).fit_transform(V)
        l1.append(H.sum())
        zeros.append(np.mean(H == 0.0))  # the soft threshold gives exact zeros
    assert l1[0] > l1[1] > l1[2]
    assert zeros[0] < zeros[1] < zeros[2]


@pytest.mark.parametrize("mu", [0.0, 0.1])
def test_hals_fixed_components_stay_frozen(mu):
    V, W_true, _ = _planted(N=1500)
    frozen = W_true[:, :3].astype(np.float32)
    m = _hals(5, sparsity=mu, fixed_components=frozen, max_iter=100)
    H = m.fit_transform(V)
    assert m.components_.shape == (64, 8) and H.shape == (8, 1500)
    t = torch.from_numpy(frozen)
    np.testing.assert_array_equal(m.components_[:, :3], (t / t.norm(dim=0, keepdim=True)).numpy())
    _, cos = match_components(W_true[:, 3:], m.components_[:, 3:])
    assert cos.min() > 0.99, cos


def test_hals_transform_matches_mu_transform():
    # with W fixed the H problem is convex: both solvers converge to the same optimum
    V, _, _ = _planted(N=400, noise=0.05)
    m = _hals(8, sparsity=0.3, max_iter=100)
    m.fit(V)
    H_hals = m.transform(V, max_iter=200)
    m.set_params(solver="mu")
    H_mu = m.transform(V, max_iter=2000)
    obj_hals, obj_mu = m.objective(V, H_hals), m.objective(V, H_mu)
    assert obj_hals <= obj_mu * (1 + 1e-6)
    assert obj_hals == pytest.approx(obj_mu, rel=1e-4)


def test_hals_chunks_do_not_change_the_result():
    V, _, _ = _planted(noise=0.05)
    one = _hals(8, sparsity=0.1, max_iter=30, batch_size=None)
    H1 = one.fit_transform(V)
    many = _hals(8, sparsity=0.1, max_iter=30, batch_size=128)
    H2 = many.fit_transform(V)
    np.testing.assert_allclose(many.components_, one.components_, atol=1e-4)
    np.testing.assert_allclose(H2, H1, atol=1e-3 * H1.max())
    assert many.objective_ == pytest.approx(one.objective_, rel=1e-5)


def test_hals_tol_stops_early():
    V, _, _ = _planted(noise=0.05)
    m = _hals(8, sparsity=0.1, max_iter=500, tol=1e-4)
    m.fit(V)
    assert 10 <= m.n_iter_ < 500 and m.n_iter_ % 10 == 0


def test_hals_refuses_kl_and_unknown_solver():
    V, _, _ = _planted(N=100)
    with pytest.raises(ParameterError, match="solver='hals' supports only the Frobenius loss"):
        _hals(4, beta_loss=1).fit(V)
    with pytest.raises(ParameterError, match="solver must be one of"):
        SparseNMF(4, solver="cd", progress=False, device="cpu").fit(V)
    with pytest.raises(ParameterError, match="only the Frobenius loss"):
        SparseNMF(4, beta_loss="kullback-leibler", progress=False, device="cpu").fit_minibatch(V.T)
    assert SparseNMF(4).get_params()["solver"] == "mu"


def test_default_solver_is_mu_bit_for_bit():
    V, _, _ = _planted(N=500, noise=0.05)
    runs = []
    for kw in ({}, {"solver": "mu"}):
        m = SparseNMF(8, sparsity=0.2, max_iter=20, tol=0, progress=False, device="cpu", inner_iter=2, **kw)
        runs.append((m.fit_transform(V), m.components_, m.objective_history_, m.transform(V, max_iter=10)))
    for a, b in zip(*runs):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


class _RecordingFrames:
    """An on-disk frame array (rows = frames) that records every slice read from it."""

    def __init__(self, array):
        self.array, self.shape, self.reads = array, array.shape, []

    def __getitem__(self, index):
        rows = self.array[index]
        self.reads.append(rows.shape[0])
        return rows


@pytest.mark.parametrize("mu", [0.0, 0.01])
def test_minibatch_on_a_memmap_recovers_planted_atoms_one_chunk_at_a_time(tmp_path, mu):
    V, W_true, _ = _planted(N=6000)
    path = tmp_path / "frames.npy"
    np.save(path, np.ascontiguousarray(V.T))
    frames = _RecordingFrames(np.load(path, mmap_mode="r"))
    m = SparseNMF(8, sparsity=mu, progress=False, device="cpu").fit_minibatch(frames, batch_frames=1000, n_epochs=8)
    _, cos = match_components(W_true, m.components_)
    assert cos.mean() > 0.99 and cos.min() > 0.97, cos
    assert max(frames.reads) == 1000 and sum(frames.reads) == 8 * 6000  # never more than one chunk
    assert m.n_iter_ == 8 * 6 and m.n_frames_seen_ == 48000 and len(m.batch_objective_history_) == 48
    np.testing.assert_allclose(np.linalg.norm(m.components_, axis=0), 1.0, atol=1e-5)
    assert m.batch_objective_history_[-1] < 0.1 * m.batch_objective_history_[0]


def test_minibatch_sources_agree_and_fixed_atoms_stay():
    V, W_true, _ = _planted(N=2000)
    rows = np.ascontiguousarray(V.T)
    frozen = W_true[:, :2].astype(np.float32)
    chunks = [rows[i:i + 400] for i in range(0, 2000, 400)]
    kw = {"batch_frames": 400, "n_epochs": 1}
    a = SparseNMF(6, sparsity=0.01, fixed_components=frozen, progress=False, device="cpu")
    a.fit_minibatch(iter(chunks), n_frames=2000, **kw)
    b = SparseNMF(6, sparsity=0.01, fixed_components=frozen, progress=False, device="cpu")
    b.fit_minibatch(lambda: iter(chunks), n_frames=2000, **kw)
    np.testing.assert_array_equal(a.components_, b.components_)
    t = torch.from_numpy(frozen)
    np.testing.assert_array_equal(a.components_[:, :2], (t / t.norm(dim=0, keepdim=True)).numpy())
    with pytest.raises(ParameterError, match="read only once"):
        a.fit_minibatch(iter(chunks), n_epochs=2)
    with pytest.raises(ParameterError, match="shape"):
        a.fit_minibatch(lambda: iter([rows[:100], rows[100:200, :10]]))
    with pytest.raises(ParameterError, match="batch_frames"):
        a.fit_minibatch(rows, batch_frames=0)
