"""White noise at a given SNR, mixing, and the SNR helpers: answers known by construction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from l2i_core import AudioError, ParameterError
from l2i_core.data.corrupt import add_white_noise, gain_for_snr, mix, signal_energy, snr_db


def _clip(n=8000, seed=0, dtype=np.float32):
    t = np.arange(n) / 8000
    rng = np.random.default_rng(seed)
    return (0.5 * np.sin(2 * np.pi * 440 * t) * np.exp(-3 * t) + 0.01 * rng.standard_normal(n)).astype(dtype)


@pytest.mark.parametrize("snr", [-10.0, 0.0, 5.0, 20.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_measured_snr_equals_requested(snr, dtype):
    x = _clip(dtype=dtype)
    y, noise = add_white_noise(x, snr, seed=3, return_noise=True)
    assert y.dtype == dtype and y.shape == x.shape
    tol = 1e-4 if dtype == np.float32 else 1e-9
    assert abs(snr_db(x, noise) - snr) < tol
    assert abs(snr_db(x, y - x) - snr) < 1e-3  # the noise really is what was added
    np.testing.assert_allclose(y, x + noise, atol=1e-6)


def test_zero_db_is_energy_matched():
    x = _clip(dtype=np.float64)
    _, noise = add_white_noise(x, 0.0, seed=123, return_noise=True)
    assert np.isclose(np.sum(noise**2), np.sum(x**2), rtol=1e-12)
    assert np.isclose(signal_energy(noise), signal_energy(x), rtol=1e-12)
    # white: uncorrelated with the signal (|r| ~ 1/sqrt(n) = 0.011) and flat spectrum
    assert abs(np.corrcoef(x, noise)[0, 1]) < 0.05
    power = np.abs(np.fft.rfft(noise)) ** 2
    low, high = power[1:2000].mean(), power[2000:4000].mean()
    assert 0.8 < low / high < 1.25


def test_batched_per_clip_snr_and_independent_noise():
    x = np.stack([_clip(seed=i) * (i + 1) for i in range(3)])  # clips of different energies
    snrs = np.array([0.0, 10.0, -5.0])
    y, noise = add_white_noise(x, snrs, seed=1, return_noise=True)
    assert y.shape == (3, 8000)
    np.testing.assert_allclose(snr_db(x, noise), snrs, atol=1e-4)
    assert not np.allclose(noise[0] / np.linalg.norm(noise[0]), noise[1] / np.linalg.norm(noise[1]))
    x4 = np.stack([x, x])  # (2, 3, n): any leading shape
    assert add_white_noise(x4, 0.0, seed=0).shape == (2, 3, 8000)


def test_seeded_and_deterministic():
    x = _clip()
    a = add_white_noise(x, 0.0, seed=7)
    assert np.array_equal(a, add_white_noise(x, 0.0, seed=7))
    assert not np.array_equal(a, add_white_noise(x, 0.0, seed=8))
    assert not np.array_equal(add_white_noise(x, 0.0, seed=(7, 0)), add_white_noise(x, 0.0, seed=(7, 1)))
    g = np.random.default_rng(5)
    first, second = add_white_noise(x, 0.0, seed=g), add_white_noise(x, 0.0, seed=g)  # a Generator advances
    assert not np.array_equal(first, second)
    assert np.array_equal(add_white_noise(x, np.inf, seed=0), x)  # +inf dB adds nothing


def test_torch_input_keeps_type_and_matches_numpy():
    x = _clip()
    t = torch.from_numpy(x.copy()).reshape(1, -1)
    y = add_white_noise(t, 0.0, seed=2)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float32 and y.shape == (1, 8000)
    np.testing.assert_array_equal(y.numpy()[0], add_white_noise(x[None], 0.0, seed=2)[0])
    m = mix(t, t, 0.5)
    assert isinstance(m, torch.Tensor)
    np.testing.assert_allclose(m.numpy(), 1.5 * x[None], rtol=1e-6)


def test_noise_errors_are_one_line():
    with pytest.raises(AudioError, match="silent") as e:
        add_white_noise(np.zeros(100, dtype=np.float32), 0.0)
    assert "\n" not in str(e.value)
    batch = np.stack([_clip(), np.zeros(8000, np.float32)])
    with pytest.raises(AudioError, match=r"clip \(1,\)"):
        add_white_noise(batch, 0.0)
    bad = _clip()
    bad[10] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        add_white_noise(bad, 0.0)
    with pytest.raises(ParameterError, match="floating-point"):
        add_white_noise(np.ones(100, dtype=np.int16), 0.0)
    with pytest.raises(ParameterError, match="snr_db"):
        add_white_noise(_clip(), float("nan"))
    with pytest.raises(ParameterError, match="snr_db"):
        add_white_noise(np.stack([_clip(), _clip()]), [0.0, 1.0, 2.0])
    with pytest.raises(ParameterError, match="seed"):
        add_white_noise(_clip(), 0.0, seed="abc")
    with pytest.raises(AudioError, match="n_samples"):
        add_white_noise(np.zeros((3, 0), np.float32), 0.0)


def test_mix_is_exact():
    x1, x2 = _clip(seed=1, dtype=np.float64), _clip(seed=2, dtype=np.float64)
    assert np.array_equal(mix(x1, x2, 0.3), x1 + 0.3 * x2)
    batch1, batch2 = np.stack([x1, x2]), np.stack([x2, x1])
    lam = np.array([0.5, 2.0])
    assert np.array_equal(mix(batch1, batch2, lam), batch1 + lam[:, None] * batch2)
    assert np.array_equal(mix(batch1, x2, 1.0), batch1 + x2)  # x2 broadcast over the batch
    assert mix(x1.astype(np.float32), x2, 1.0).dtype == np.float32


def test_mix_lengths():
    x1, x2 = _clip(8000), _clip(5000, seed=1)
    with pytest.raises(ParameterError, match="fit=True"):
        mix(x1, x2, 1.0)
    padded = mix(x1, x2, 1.0, fit=True)
    np.testing.assert_allclose(padded[:5000], x1[:5000] + x2, atol=1e-7)
    np.testing.assert_array_equal(padded[5000:], x1[5000:])
    cropped = mix(x2, x1, 1.0, fit=True)
    np.testing.assert_allclose(cropped, x2 + x1[:5000], atol=1e-7)
    with pytest.raises(ParameterError, match="lam"):
        mix(x1, x1, float("inf"))


def test_snr_helpers_known_values():
    s = np.ones(1000)
    assert snr_db(s, 0.1 * s) == pytest.approx(20.0)
    assert snr_db(s, np.zeros(1000)) == np.inf
    assert snr_db(np.zeros(1000), s) == -np.inf
    with pytest.raises(AudioError, match="undefined"):
        snr_db(np.zeros(10), np.zeros(10))
    with pytest.raises(ParameterError, match="equal lengths"):
        snr_db(s, s[:10])
    x1, x2 = _clip(seed=1, dtype=np.float64), _clip(seed=2, dtype=np.float64)
    g = gain_for_snr(x1, x2, 6.0)
    assert snr_db(x1, g * x2) == pytest.approx(6.0, abs=1e-9)
    assert snr_db(x1, mix(x1, x2, g) - x1) == pytest.approx(6.0, abs=1e-9)
    with pytest.raises(AudioError, match="silent"):
        gain_for_snr(x1, np.zeros_like(x1))


@pytest.mark.realdata
def test_white_noise_on_a_real_clip(esc10_root):
    from l2i_core.audio.waveform import load_audio

    path = sorted((esc10_root / "audio").glob("*.ogg"))[0]
    x = load_audio(path, sr=8000, duration=5.0)
    y, noise = add_white_noise(x, 0.0, seed=0, return_noise=True)
    assert abs(snr_db(x, noise)) < 1e-4
    assert np.isclose(signal_energy(y - x), signal_energy(x), rtol=1e-4)
