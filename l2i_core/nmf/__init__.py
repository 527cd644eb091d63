"""The NMF dictionary: sparse NMF with unit-norm atoms (SparseNMF) and the dictionary W learned on a training split.

Modules
-------
sparse_nmf          Sparse NMF dictionary learning in torch (CPU or GPU), in the scikit-learn estimator style.
dictionary          Learning, saving and loading the L2I dictionary W from a dataset's training split.
"""

from l2i_core.nmf.dictionary import (
    MAX_STREAM_FRAMES,
    MEMORY_FRAMES,
    Dictionary,
    frames_in_memory,
    gather_frames,
    learn_dictionary,
    listen_to_atoms,
    load_dictionary,
    save_dictionary,
)
from l2i_core.nmf.sparse_nmf import SparseNMF, denormals_flushed, flush_denormals, match_components

__all__ = [
    "FIT_COPIES",
    "MAX_STREAM_FRAMES",
    "MEMORY_FRAMES",
    "frames_in_memory",
    "SparseNMF",
    "flush_denormals",
    "denormals_flushed",
    "match_components",
    "Dictionary",
    "gather_frames",
    "learn_dictionary",
    "save_dictionary",
    "load_dictionary",
    "listen_to_atoms",
]
