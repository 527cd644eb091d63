"""SparseNMF and dictionary learning, on data whose answer is known by construction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from l2i_core import ParameterError
from l2i_core.nmf.dictionary import Dictionary, learn_dictionary, load_dictionary, save_dictionary
from l2i_core.nmf.sparse_nmf import SparseNMF, denormals_flushed, flush_denormals, match_components


def _planted(F=64, K=8, N=3000, density=0.3, seed=0):
    """V = W* H* with unit-norm, fairly distinct non-negative atoms and sparse activations."""
    rng = np.random.default_rng(seed)
    W = rng.random((F, K)) ** 4
    W /= np.linalg.norm(W, axis=0)
    H = rng.gamma(2.0, 1.0, (K, N)) * (rng.random((K, N)) < density)
    return (W @ H).astype(np.float32), W, H


def _fit(V, K, **kw):
    kw = {"sparsity": 0.01, "max_iter": 300, "tol": 0, "progress": False, "device": "cpu", **kw}
    m = SparseNMF(K, **kw)
    return m, m.fit_transform(V)


@pytest.mark.parametrize("beta", [2, 1])
def test_recovers_planted_atoms(beta):
    V, W_true, _ = _planted()
    m, _ = _fit(V, 8, beta_loss=beta)
    _, cos = match_components(W_true, m.components_)
    assert cos.mean() >= 0.95, cos
    assert m.components_.shape == (64, 8) and m.n_iter_ == 300


def test_plain_frobenius_reaches_the_planted_optimum():
    # mu = 0 and exact data: the objective goes to ~0 and the reconstruction is exact
    V, _, _ = _planted(N=1000)
    m, H = _fit(V, 8, sparsity=0.0, max_iter=400, inner_iter=4)
    assert np.linalg.norm(V - m.components_ @ H) / np.linalg.norm(V) < 0.02


@pytest.mark.parametrize("beta,mu,inner", [(2, 0.5, 1), (1, 0.5, 1), (2, 0.0, 1), (2, 0.5, 4), (2, 0.0, 4)])
def test_objective_never_increases(beta, mu, inner):
    V, _, _ = _planted(N=1000)
    m, _ = _fit(V, 8, beta_loss=beta, sparsity=mu, max_iter=150, inner_iter=inner)
    h = np.asarray(m.objective_history_)
    assert len(h) == 151
    # float32 arithmetic: allow rounding-level wiggles only (1e-6 relative)
    assert np.all(np.diff(h) <= 1e-6 * h[1:]), np.diff(h).max()
    assert h[-1] < 0.5 * h[0]


def _direct_objective(V, W, H, mu):
    """½‖V − WH‖²_F + µ‖H‖₁ in float64 numpy from the direct residual (independent of SparseNMF)."""
    R = V.astype(np.float64) - W.astype(np.float64) @ H.astype(np.float64)
    return 0.5 * float(np.sum(R * R)) + mu * float(H.astype(np.float64).sum())


@pytest.mark.parametrize("noise", [0.0, 0.05])
@pytest.mark.parametrize("mu,inner", [(0.0, 1), (0.5, 1), (0.0, 3), (0.5, 3)])
def test_objective_history_matches_direct_float64_objective(noise, mu, inner):
    # SparseNMF's history uses the expansion ½(‖V‖² − 2⟨WᵀV, H⟩ + ⟨WᵀW, HHᵀ⟩) from float32 products.
    # Pinned here: it agrees with the direct float64 residual form to 1e-5 relative and to 1e-6 of
    # ½‖V‖² (the scale at which the expansion cancels). The iterate after i iterations is the result
    # of a max_iter=i fit from the same initial factors (the fit is deterministic).
    V, _, _ = _planted(N=1000)
    V = V + noise * np.random.default_rng(2).random(V.shape).astype(np.float32)
    rng = np.random.default_rng(1)
    W0, H0 = rng.random((64, 8)).astype(np.float32), rng.random((8, 1000)).astype(np.float32)
    n = 6
    m = SparseNMF(8, sparsity=mu, max_iter=n, tol=0, progress=False, device="cpu", inner_iter=inner)
    H = m.fit_transform(V, W_init=W0, H_init=H0)
    hist = np.asarray(m.objective_history_)
    assert len(hist) == n + 1  # the iterate entering each iteration, then the final one
    direct = [_direct_objective(V, W0 / np.linalg.norm(W0, axis=0), H0, mu)]
    for i in range(1, n):
        mi = SparseNMF(8, sparsity=mu, max_iter=i, tol=0, progress=False, device="cpu", inner_iter=inner)
        Hi = mi.fit_transform(V, W_init=W0, H_init=H0)
        direct.append(_direct_objective(V, mi.components_, Hi, mu))
    direct.append(_direct_objective(V, m.components_, H, mu))
    direct = np.asarray(direct)
    half_VV = 0.5 * float(np.sum(V.astype(np.float64) ** 2))
    np.testing.assert_allclose(hist, direct, rtol=1e-5)
    assert np.max(np.abs(hist - direct)) <= 1e-6 * half_VV
    assert m.objective_ == hist[-1]
    assert m.reconstruction_err_ == pytest.approx(_direct_objective(V, m.components_, H, 0.0), rel=1e-5)


def test_final_objective_matches_direct_form_near_the_optimum():
    # exact data, µ = 0: the objective falls to ~1e-5 of ½‖V‖², where the expansion's cancellation
    # is worst: its error is then a few percent of the objective, but stays within 1e-6 of ½‖V‖²
    V, _, _ = _planted(N=1000)
    m, H = _fit(V, 8, sparsity=0.0, max_iter=400, inner_iter=4)
    half_VV = 0.5 * float(np.sum(V.astype(np.float64) ** 2))
    direct = _direct_objective(V, m.components_, H, 0.0)
    assert direct < 1e-3 * half_VV
    assert abs(m.objective_ - direct) <= 1e-6 * half_VV


@pytest.mark.parametrize("mu", [0.3, 0.0])
def test_unit_norm_nonnegative_columns(mu):
    V, _, _ = _planted(N=800)
    m, H = _fit(V, 8, sparsity=mu, max_iter=50, inner_iter=3)
    np.testing.assert_allclose(np.linalg.norm(m.components_, axis=0), 1.0, atol=1e-5)
    assert (m.components_ >= 0).all() and (H >= 0).all()


def test_larger_mu_gives_sparser_activations():
    V, _, _ = _planted(N=1500, density=0.5)
    l1 = []
    zeros = []
    for mu in (0.0, 0.5, 5.0):
        _, H = _fit(V, 8, sparsity=mu, max_iter=200)
        l1.append(np.abs(H).sum())
        zeros.append(np.mean(H < 1e-3 * H.max()))
    assert l1[0] > l1[1] > l1[2]
    assert zeros[0] < zeros[1] < zeros[2]


def test_transform_reproduces_fit_transform():
    V, _, _ = _planted(N=1000)
    m, H_fit = _fit(V, 8, sparsity=0.2, max_iter=400)
    H_tr = m.transform(V, max_iter=2000)
    rel = np.linalg.norm(H_tr - H_fit) / np.linalg.norm(H_fit)
    assert rel < 2e-2, rel
    # and the fixed-W objective it reaches is as good as the one of fit
    assert m.objective(V, H_tr) <= m.objective(V, H_fit) * (1 + 1e-3)


def test_deterministic_from_random_state():
    V, _, _ = _planted(N=500)
    a, _ = _fit(V, 8, max_iter=30, random_state=3)
    b, _ = _fit(V, 8, max_iter=30, random_state=3)
    c, _ = _fit(V, 8, max_iter=30, random_state=4)
    np.testing.assert_array_equal(a.components_, b.components_)
    assert not np.allclose(a.components_, c.components_)


def test_fixed_components_stay_frozen():
    V, W_true, _ = _planted(N=1500)
    frozen = W_true[:, :3].astype(np.float32)
    m, H = _fit(V, 5, fixed_components=frozen, max_iter=200)
    assert m.components_.shape == (64, 8) and H.shape == (8, 1500)
    np.testing.assert_allclose(m.components_[:, :3], frozen, atol=1e-6)
    # the free atoms find the 5 others
    _, cos = match_components(W_true[:, 3:], m.components_[:, 3:])
    assert cos.mean() > 0.9


def test_sklearn_style_params():
    m = SparseNMF(7, sparsity=0.3)
    assert m.get_params()["n_components"] == 7
    assert m.set_params(sparsity=0.1).sparsity == 0.1
    with pytest.raises(ParameterError, match="no parameter"):
        m.set_params(alpha=1)
    with pytest.raises(ParameterError, match="not fitted"):
        m.transform(np.ones((4, 10), np.float32))


@pytest.mark.parametrize(
    "V,kw,match",
    [
        (-np.ones((5, 20), np.float32), {}, "negative"),
        (np.full((5, 20), np.nan, np.float32), {}, "NaN"),
        (np.ones((5, 3), np.float32), {}, "K=4 components for only 3 frames"),
        (np.ones(20, np.float32), {}, "2-D"),
        (np.ones((5, 20), np.float32), {"sparsity": -1}, "sparsity"),
        (np.ones((5, 20), np.float32), {"beta_loss": 0.5}, "beta_loss"),
    ],
)
def test_bad_input(V, kw, match):
    with pytest.raises(ParameterError, match=match):
        SparseNMF(4, progress=False, device="cpu", **kw).fit(V)


def test_flush_denormals_is_scoped_and_restored():
    before = denormals_flushed()
    with flush_denormals():
        assert denormals_flushed() or not torch.set_flush_denormal(True)  # unsupported CPUs: no-op
    assert denormals_flushed() == before
    # restored after an exception too
    with pytest.raises(RuntimeError), flush_denormals():
        raise RuntimeError("inside")
    assert denormals_flushed() == before
    # and after a fit
    V, _, _ = _planted(N=300)
    _fit(V, 8, sparsity=1.0, max_iter=20)
    assert denormals_flushed() == before


def test_save_load_roundtrip(tmp_path):
    W = np.abs(np.random.default_rng(0).standard_normal((10, 3))).astype(np.float32)
    path = save_dictionary(Dictionary(W, {"dataset": "x", "sparsity": 0.8}), tmp_path / "W")
    back = load_dictionary(path)
    np.testing.assert_array_equal(back.W, W)
    assert back.meta["sparsity"] == 0.8 and path.with_suffix(".json").is_file()
    np.save(tmp_path / "bad.npy", -W)
    with pytest.raises(ParameterError, match="not a valid dictionary"):
        load_dictionary(tmp_path / "bad.npy")
    with pytest.raises(ParameterError, match="no dictionary file"):
        load_dictionary(tmp_path / "missing")


@pytest.mark.realdata
def test_learn_dictionary_on_esc10_train_split_only(esc10_root):
    from l2i_core.data import load_dataset

    ds = load_dataset("esc10", data_dir=esc10_root)
    d = learn_dictionary(ds, "cpu", n_components=12, max_iter=15, max_clips=12, progress=False, device="cpu")
    assert d.W.shape == (513, 12)
    assert d.meta["split"] == "train" and d.meta["dataset"] == "esc10" and d.meta["n_frames"] > 12 * 100
    np.testing.assert_allclose(np.linalg.norm(d.W, axis=0), 1.0, atol=1e-5)


def test_per_class_dictionary_drops_noise_atoms():
    from l2i_core.data import AudioDataset, Record

    sr, rng = 8000, np.random.default_rng(0)
    t = np.arange(sr) / sr
    recs = []
    for i in range(6):
        for c, f in (("low", 300.0), ("high", 2500.0)):
            y = np.sin(2 * np.pi * f * t) + 0.05 * rng.standard_normal(sr)
            recs.append(Record(uid=f"{c}{i}", labels=(c,), split="train", waveform=y.astype(np.float32), sr=sr))
    recs.append(Record(uid="v", labels=("low",), split="validation", waveform=np.ones(sr, np.float32) * 0.1, sr=sr))
    ds = AudioDataset("toy", recs, ["low", "high", "never"], multilabel=True, duration=1.0)
    d = learn_dictionary(ds, "cpu", per_class=2, max_iter=40, progress=False, device="cpu", sparsity=0.1)
    assert d.W.shape == (513, 4)
    assert d.atom_classes() == ["low", "low", "high", "high"]
    assert d.meta["classes_without_atoms"] == ["never"]
    # the "low" atoms peak near 300 Hz, the "high" atoms near 2500 Hz
    freqs = np.fft.rfftfreq(1024, 1 / 22050)
    peak = freqs[d.W.argmax(axis=0)]
    assert np.all(np.abs(peak[:2] - 300) < 60) and np.all(np.abs(peak[2:] - 2500) < 60), peak


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_fit_matches_cpu():
    V, W_true, _ = _planted(N=2000)
    cpu, H_cpu = _fit(V, 8, max_iter=100)
    gpu, H_gpu = _fit(V, 8, max_iter=100, device="cuda")
    _, cos = match_components(cpu.components_, gpu.components_)
    assert cos.min() > 0.999
    assert abs(gpu.objective_ - cpu.objective_) / cpu.objective_ < 1e-3
