"""The one home of the soft masks: component masks, the mask of a set, and masks made audible."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from l2i_core import ParameterError
from l2i_core.audio.frontend import FrontEnd
from l2i_core.audio.masks import component_audio, component_masks, mask_to_audio, selection_mask


def _WH(F=20, K=6, T=9, seed=0):
    rng = np.random.default_rng(seed)
    W = torch.from_numpy(np.abs(rng.standard_normal((F, K))).astype(np.float32))
    H = torch.from_numpy(np.abs(rng.standard_normal((K, T))).astype(np.float32))
    return W, H


def test_component_masks_partition_unity():
    W, H = _WH()
    M = component_masks(W, H, range(6), eps=0.0)
    torch.testing.assert_close(M.sum(0), torch.ones(20, 9))
    assert M.shape == (6, 20, 9) and (M >= 0).all()


def test_component_mask_known_value():
    W = torch.tensor([[1.0, 3.0], [0.0, 2.0]])
    H = torch.tensor([[1.0], [1.0]])
    # bin 0: w_0 h_0 = 1 of W H = 4; bin 1: 0 of 2
    torch.testing.assert_close(component_masks(W, H, [0], eps=0.0), torch.tensor([[[0.25], [0.0]]]))
    with pytest.raises(ParameterError, match="indices"):
        component_masks(W, H, [2])


def test_selection_mask_is_the_sum_of_the_component_masks():
    W, H = _WH()
    sel = torch.tensor([[True, False, True, False, False, True], [False] * 6])
    M = selection_mask(W, torch.stack([H, H]), sel)
    torch.testing.assert_close(M[0], component_masks(W, H, [0, 2, 5]).sum(0))
    assert M[1].abs().max() == 0
    with pytest.raises(ParameterError, match="selected"):
        selection_mask(W, H[None], sel)


def test_mask_to_audio_of_ones_is_the_input_and_component_audio_of_all_atoms_too():
    fe = FrontEnd("cpu")
    t = np.arange(22050) / 22050
    x = torch.from_numpy((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    V, phase = fe.magnitude_phase(x)
    y = mask_to_audio(torch.ones_like(V), V, phase, fe, length=len(x))
    assert torch.linalg.norm(y - x) / torch.linalg.norm(x) < 1e-4
    # with W = identity every bin is its own atom and H = V: all atoms reconstruct the clip
    W = np.eye(V.shape[0], dtype=np.float32)
    z = component_audio(W, V.numpy(), V, phase, range(V.shape[0]), fe, length=len(x))
    assert np.linalg.norm(z - x.numpy()) / np.linalg.norm(x.numpy()) < 1e-4
    none = mask_to_audio(torch.zeros_like(V), V, phase, fe, length=len(x))
    assert none.abs().max() == 0
