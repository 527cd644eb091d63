"""Tiny random models shared by the explain and widget tests (no data, no training)."""

from __future__ import annotations

import numpy as np
import torch

from l2i_core.classifier import AudioCNN
from l2i_core.explain import L2IExplainer
from l2i_core.interpreter import L2IInterpreter

SR = 22050


def toy_explainer(multilabel: bool = False, seconds: float = 1.0, C: int = 3, K: int = 8, seed: int = 0):
    """A random AudioCNN + attention interpreter (K atoms) for clips of ``seconds``; returns ``(explainer, n)``."""
    torch.manual_seed(seed)
    clf = AudioCNN(C, "cpu", multilabel=multilabel).eval()
    n = int(seconds * SR)
    T = 1 + n // 512
    W = np.abs(np.random.default_rng(seed).standard_normal((513, K))).astype(np.float32) / 10
    chans = [clf.arch.channels[t - 1] for t in clf.arch.taps]
    interp = L2IInterpreter(W, chans, C, T, pooling="attention").eval()
    return L2IExplainer(clf, interp, "cpu", classes=[f"c{i}" for i in range(C)]), n
