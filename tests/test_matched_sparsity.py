"""Matched-sparsity ground truth (issue 31 item 1), on mixtures whose answer is known by construction:
two tones in disjoint bands, so the stem's bins are known exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from l2i_core._errors import ParameterError
from l2i_core.audio.frontend import FrontEnd
from l2i_core.config import get_preset
from l2i_core.evaluate.ground_truth import MATCHED_SHARES, matched_columns, matched_sparsity_scores

SR = 22050


@pytest.fixture(scope="module")
def mixture():
    """A 1 kHz stem (0.8) over a 6 kHz interferer (0.2), one second, with V, phase and the stem's own bins."""
    fe = FrontEnd(get_preset("cpu"))
    t = np.arange(SR) / SR
    s = (0.8 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    n = (0.2 * np.sin(2 * np.pi * 6000 * t)).astype(np.float32)
    x = s + n
    X = fe.stft(torch.from_numpy(x[None]))
    V, phase = torch.log1p(X.abs()).numpy(), torch.angle(X).numpy()
    S = fe.stft(torch.from_numpy(s[None])).abs().numpy()
    N = fe.stft(torch.from_numpy(n[None])).abs().numpy()
    return fe, x[None], s[None], V, phase, S, N


def test_columns_name_every_share_and_the_summaries():
    cols = matched_columns((0.05, 0.4))
    assert list(cols)[:3] == ["si_sdri@5", "precision@5", "recall@5"]
    assert list(cols)[-3:] == ["si_sdri_matched", "precision_matched", "recall_matched"]
    assert len(matched_columns()) == 3 * len(MATCHED_SHARES) + 3


def test_keeping_every_bin_is_doing_nothing(mixture):
    fe, x, s, V, phase, S, N = mixture
    mask = np.random.default_rng(0).random(V.shape)
    out = matched_sparsity_scores(mask, V, phase, x, s, fe, shares=(1.0,))
    assert abs(out["si_sdri@100"][0]) < 1e-3  # the input itself, up to the STFT round trip
    assert out["recall@100"][0] == 1.0
    energy_s, energy_n = (S**2).sum(), (N**2).sum()
    assert out["precision@100"][0] == pytest.approx(energy_s / (energy_s + energy_n), rel=1e-6)  # float32 spectra


def test_a_mask_that_ranks_the_stem_first_wins_and_a_reversed_one_loses(mixture):
    fe, x, s, V, phase, S, N = mixture
    good = (S / (S + N + 1e-9)).astype(np.float32)  # the ratio mask: the stem's bins first
    bad = 1 - good
    out = matched_sparsity_scores(np.concatenate([good, bad]), np.repeat(V, 2, 0), np.repeat(phase, 2, 0),
                                  np.repeat(x, 2, 0), np.repeat(s, 2, 0), fe, shares=(0.05,))
    # a pure tone lives in a handful of bins: 5 % of the plane holds nearly all of the stem, nothing else
    assert out["precision@5"][0] > 0.99 and out["recall@5"][0] > 0.95  # the window leaks a little
    assert out["si_sdri@5"][0] > 3  # above the input (12 dB): the missing sidelobes cap it
    assert out["precision@5"][1] < 0.01 and out["si_sdri@5"][1] < 0


def test_random_ranking_scores_chance_and_a_constant_mask_has_no_ranking(mixture):
    fe, x, s, V, phase, S, N = mixture
    rng = np.random.default_rng(1)
    masks = rng.random((64, *V.shape[1:])).astype(np.float32)
    rep = lambda a: np.repeat(a, 64, 0)  # noqa: E731
    out = matched_sparsity_scores(masks, rep(V), rep(phase), rep(x), rep(s), fe, shares=(0.2,))
    assert out["recall@20"].mean() == pytest.approx(0.2, abs=0.05)  # bins kept at random: a fifth of the stem
    const = matched_sparsity_scores(np.ones_like(V), V, phase, x, s, fe)
    assert all(np.isnan(v[0]) for v in const.values())


def test_bad_shares_and_shapes_raise(mixture):
    fe, x, s, V, phase, S, N = mixture
    with pytest.raises(ParameterError, match="fractions"):
        matched_sparsity_scores(np.ones_like(V), V, phase, x, s, fe, shares=(0.0,))
    with pytest.raises(ParameterError, match="one per mask row"):
        matched_sparsity_scores(np.ones_like(V), V, phase, x, s[:, :100], fe)
