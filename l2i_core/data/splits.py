"""Train / validation / test splitting that keeps groups (e.g. takes of one source file) together."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from l2i_core._errors import ParameterError

__all__ = ["grouped_stratified_split", "check_groups_within_splits"]


def grouped_stratified_split(
    labels: Sequence,
    groups: Sequence,
    *,
    n_folds: int = 5,
    seed: int = 0,
) -> np.ndarray:
    """Assign each item to ``'train'``, ``'validation'`` or ``'test'``, stratified by label.

    Items are dealt into ``n_folds`` folds with :class:`sklearn.model_selection.StratifiedGroupKFold`
    (shuffled with ``seed``); fold 0 is the test split, fold 1 validation, the rest train. Items of
    one group never straddle two splits.

    Parameters
    ----------
    labels : sequence [shape=(n_items,)]
        Class of each item.
    groups : sequence [shape=(n_items,)]
        Group of each item (for ESC-50: ``src_file``).
    n_folds : int >= 3
    seed : int

    Returns
    -------
    splits : np.ndarray [shape=(n_items,), dtype=object]
    """
    labels = np.asarray(labels)
    groups = np.asarray(groups)
    if n_folds < 3:
        raise ParameterError(f"n_folds must be >= 3 to leave a train, a validation and a test fold, got {n_folds}")
    if len(labels) != len(groups):
        raise ParameterError(f"labels ({len(labels)}) and groups ({len(groups)}) differ in length")
    if len(np.unique(groups)) < n_folds:
        raise ParameterError(f"only {len(np.unique(groups))} groups for {n_folds} folds; add data or lower n_folds")
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    fold = np.empty(len(labels), dtype=int)
    for k, (_, test_idx) in enumerate(splitter.split(np.zeros(len(labels)), labels, groups)):
        fold[test_idx] = k
    out = np.full(len(labels), "train", dtype=object)
    out[fold == 0] = "test"
    out[fold == 1] = "validation"
    check_groups_within_splits(out, groups)
    return out


def check_groups_within_splits(splits: Sequence, groups: Sequence, *, what: str = "group") -> None:
    """Raise :class:`ParameterError` if any group has items in more than one split."""
    seen: dict = {}
    for s, g in zip(splits, groups):
        if seen.setdefault(g, s) != s:
            raise ParameterError(
                f"{what} {g!r} appears in both the {seen[g]!r} and the {s!r} split; "
                "takes of one source must stay in one split"
            )
