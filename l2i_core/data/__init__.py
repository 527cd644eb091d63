"""Datasets: one record type, one container, one entry point.

>>> from l2i_core.data import load_dataset
>>> ds = load_dataset("esc10")             # doctest: +SKIP
>>> ds.split("train"), ds.classes[:3]      # doctest: +SKIP

Datasets: ``esc10``, ``esc50``, ``esc50-fold4`` (ESC-50 layout), ``fsdd``, ``sonyc`` (SONYC-UST v2
layout, multi-label), ``urbanmix`` (scenes mixed from real ESC clips, written in the SONYC-UST
layout, with stems) and ``folder`` (a user's ``class_name/*.wav`` tree).
"""

from __future__ import annotations

import os

from l2i_core._errors import ParameterError
from l2i_core.data.corrupt import add_white_noise, gain_for_snr, mix, signal_energy, snr_db
from l2i_core.data.esc50 import (
    ESC10_LICENCE,
    ESC50_LICENCE,
    ESC_COLUMNS,
    ESC_NAMES,
    load_esc,
    load_esc_dataset,
    read_esc_meta,
)
from l2i_core.data.folder import load_folder
from l2i_core.data.fsdd import FSDD_LICENCE, load_fsdd
from l2i_core.data.mixtures import (
    BACKGROUND_TARGETS,
    DEFAULT_N_SCENES,
    ESC_TO_COARSE,
    ESC_TO_FINE,
    SIDECAR,
    build_urbanmix,
    load_urbanmix,
)
from l2i_core.data.planted import (
    MARKER_LOW_HZ,
    MARKER_RAMP_S,
    MARKER_SECONDS,
    MARKER_SNR_DB,
    SUPPORT_FLOOR_DB,
    PlantedDataset,
    marker_frequencies,
    marker_support,
    marker_waveform,
    mel_band_centres,
    planted_dataset,
)
from l2i_core.data.records import SPLITS, AudioDataset, Record
from l2i_core.data.registry import (
    CONFIRM_ABOVE_BYTES,
    SOURCES,
    DatasetSource,
    DownloadNotConfirmed,
    DownloadPlan,
    Remote,
    assume_yes,
    cache_dir,
    download,
    download_plan,
    ensure_datasets,
    esc50_fold4_from_esc50,
    find_dataset_dir,
    offline,
    required_datasets,
)
from l2i_core.data.sonyc import (
    ANNOTATION_COLUMNS,
    COARSE_CLASSES,
    COARSE_COLUMNS,
    FINE_CLASSES,
    FINE_COLUMNS,
    FINE_PROXIMITY_COLUMNS,
    LABEL_RULES,
    META_COLUMNS,
    SONYC_LICENCE,
    aggregate_labels,
    coarse_columns,
    load_sonyc,
    read_annotations,
)
from l2i_core.data.splits import check_groups_within_splits, grouped_stratified_split

#: Loaded on first use, so that ``python -m l2i_core.data.sonyc_synth`` runs without runpy's warning.
_LAZY = {name: "l2i_core.data.sonyc_synth" for name in ("write_sonyc_tree", "SONYC_V2_SPLIT_SIZES", "SYNTH_SIDECAR")}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'l2i_core.data' has no attribute {name!r}")


__all__ = [
    "download_plan",
    "assume_yes",
    "DownloadPlan",
    "DownloadNotConfirmed",
    "CONFIRM_ABOVE_BYTES",
    "AudioDataset",
    "Record",
    "SPLITS",
    "DATASETS",
    "load_dataset",
    "find_dataset_dir",
    "download",
    "cache_dir",
    "build_urbanmix",
    "add_white_noise",
    "mix",
    "snr_db",
    "gain_for_snr",
    "signal_energy",
    "load_esc",
    "read_esc_meta",
    "ESC_COLUMNS",
    "ESC10_LICENCE",
    "ESC50_LICENCE",
    "load_folder",
    "load_fsdd",
    "FSDD_LICENCE",
    "load_urbanmix",
    "ESC_TO_COARSE",
    "ESC_TO_FINE",
    "BACKGROUND_TARGETS",
    "DEFAULT_N_SCENES",
    "SIDECAR",
    "Remote",
    "DatasetSource",
    "SOURCES",
    "offline",
    "required_datasets",
    "ensure_datasets",
    "esc50_fold4_from_esc50",
    "load_sonyc",
    "aggregate_labels",
    "read_annotations",
    "coarse_columns",
    "LABEL_RULES",
    "COARSE_CLASSES",
    "COARSE_COLUMNS",
    "FINE_CLASSES",
    "FINE_COLUMNS",
    "FINE_PROXIMITY_COLUMNS",
    "META_COLUMNS",
    "ANNOTATION_COLUMNS",
    "SONYC_LICENCE",
    "grouped_stratified_split",
    "check_groups_within_splits",
    "write_sonyc_tree",
    "SONYC_V2_SPLIT_SIZES",
    "SYNTH_SIDECAR",
    "PlantedDataset",
    "planted_dataset",
    "marker_frequencies",
    "marker_waveform",
    "marker_support",
    "mel_band_centres",
    "MARKER_SECONDS",
    "MARKER_RAMP_S",
    "MARKER_LOW_HZ",
    "MARKER_SNR_DB",
    "SUPPORT_FLOOR_DB",
]

#: Names accepted by :func:`load_dataset`.
DATASETS = ("esc10", "esc50", "esc50-fold4", "fsdd", "sonyc", "urbanmix", "folder")


def load_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    seed: int = 0,
    **kwargs,
) -> AudioDataset:
    """Load a dataset by name.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`.
    data_dir : path or None
        Where the data is; by default ``$L2I_DATA/<name>`` then the user cache (see
        :func:`~l2i_core.data.registry.find_dataset_dir`). Required for ``folder``.
    download : bool
        Allow a checksummed download into the user cache when the data is not found.
    seed : int
        Seed of the drawn splits (``esc50-fold4``, ``folder``) and of the ``urbanmix`` build.
    **kwargs
        Passed to the loader (``test_fold``, ``val_fold`` for ESC; ``duration``; ...).

    Returns
    -------
    AudioDataset

    Raises
    ------
    ParameterError
        Unknown name or bad option.
    DataNotFoundError
        The data is not on disk (and not downloadable, or ``download=False``).
    """
    name = str(name).lower()
    if name in ESC_NAMES:
        return load_esc_dataset(name, data_dir=data_dir, download=download, seed=seed, **kwargs)
    if name == "fsdd":
        return load_fsdd(find_dataset_dir(name, data_dir), **kwargs)
    if name == "folder":
        if data_dir is None:
            raise ParameterError("dataset 'folder' needs data_dir=<folder with one sub-folder of audio per class>")
        return load_folder(data_dir, seed=seed, **kwargs)
    if name == "sonyc":
        return load_sonyc(find_dataset_dir(name, data_dir, download=download), **kwargs)
    if name == "urbanmix":
        return load_urbanmix(data_dir=data_dir, seed=seed, **kwargs)
    raise ParameterError(f"unknown dataset {name!r}; choose one of {DATASETS}")
