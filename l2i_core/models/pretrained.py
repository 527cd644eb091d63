"""A pretrained audio network that can be had here: the aiSFX backbone, loaded safely, with a new head.

The paper interprets a network pretrained on AudioSet and fine-tuned on ESC-50. Those weights cannot
be had here; one pretrained audio network can: the PyPI package ``aisfx`` 0.1.2 (A. B. Ma and
A. Lerch, *Representation Learning for the Automatic Indexing of Sound Effects Libraries*, ISMIR
2022; code MIT, model weights CC BY 4.0) ships its checkpoint inside the wheel. Its backbone is a
four-block VGG-style CNN of the DCASE cross-task baseline family (two 3×3 convolutions with batch
norm and ReLU per block, 64/128/256/512 channels, 2×2 max pooling after blocks 1–3), trained on
large sound-effect libraries. Its 128-, 256- and 512-channel blocks are the widths of the layers the
paper taps in its Kumar et al. network, and they are this classifier's taps ``low/mid/high``.

Install it without its dependencies (its pins, librosa 0.9.2 and numpy 1.23, cannot coexist with
ours)::

    pip install --no-deps aisfx==0.1.2

l2i never imports aiSFX's code: it reads the checkpoint file only, found through
:mod:`importlib.metadata` (``importlib.resources`` would import the package, whose ``__init__``
imports code written for librosa 0.9), checks its sha256, and loads it with
``torch.load(..., weights_only=True)`` and an explicit allow-list of the two numpy globals its
pickled dataset table needs.

The front end the network was trained on is the ``aisfx`` preset's (:mod:`l2i_core.config`): 44.1
kHz peak-normalised audio, n_fft 2048 / hop 1024, 96 HTK mel bands with unit-area filters, power,
``log10(10⁴·S + 1) / 9.4578``. aiSFX feeds the network ``(time, mel)`` images; l2i keeps
``(mel, time)`` everywhere, so the 3×3 kernels are transposed once on loading, which computes
exactly the same function (tested against the original orientation).
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import numpy as np
import pooch
import torch
from torch import nn

from l2i_core._errors import ParameterError
from l2i_core._utils import probabilities
from l2i_core.config import Preset, get_preset
from l2i_core.models.classifier import ConvBlock

__all__ = ["BackboneClassifier", "AISFX_SHA256", "AISFX_CREDIT", "INSTALL_HINT", "aisfx_checkpoint_path", "load_aisfx_checkpoint",
           "AiSFXClassifier", "TRAINABLE_BLOCKS"]

AISFX_SHA256 = "499ea75909c932a2f94c35fa722fa4fabc5bcb7e84917209cc5f7402627b7eb5"
"""sha256 of ``aisfx/models/checkpoint.pth`` in the aisfx 0.1.2 wheel."""

INSTALL_HINT = "pip install --no-deps aisfx==0.1.2"

AISFX_CREDIT = ("aiSFX backbone: A. B. Ma and A. Lerch, \"Representation Learning for the Automatic Indexing of "
                "Sound Effects Libraries\", ISMIR 2022 (PyPI aisfx 0.1.2; code MIT, model weights CC BY 4.0)")

TRAINABLE_BLOCKS = {"head": 0, "last": 1, "all": 4}
"""Fine-tuning modes: how many of the four blocks (counted from the top) train with the head."""


def aisfx_checkpoint_path() -> Path:
    """Path of the checkpoint inside the installed ``aisfx`` distribution (its code is not imported).

    Raises
    ------
    ParameterError
        When the package is not installed, with the one command that installs it.
    """
    try:
        dist = metadata.distribution("aisfx")
    except metadata.PackageNotFoundError:
        raise ParameterError(f"the pretrained aiSFX backbone is not installed; install it with: {INSTALL_HINT}") from None
    for f in dist.files or []:
        if f.as_posix().endswith("aisfx/models/checkpoint.pth"):
            path = Path(f.locate())
            if path.is_file():
                return path
    raise ParameterError(f"the aisfx package has no models/checkpoint.pth (version {dist.version}); "
                         f"reinstall it with: {INSTALL_HINT}")


def _numpy_allow_list() -> list:
    """The numpy globals the checkpoint's pickled dataset table holds (numpy int64 scalars)."""
    try:  # numpy >= 2 moved numpy.core to numpy._core; the pickle names the old module
        from numpy._core.multiarray import scalar
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import scalar
    return [(scalar, "numpy.core.multiarray.scalar"), np.dtype, type(np.dtype(np.int64))]


def load_aisfx_checkpoint(path: str | Path | None = None, *, verify: bool = True) -> tuple[dict, dict]:
    """The backbone's state dict (keys ``conv_block{1..4}.*``) and aiSFX's dataset table.

    Parameters
    ----------
    path : path or None
        The checkpoint; default the one in the installed ``aisfx`` package.
    verify : bool
        Check the file's sha256 against :data:`AISFX_SHA256`.

    Notes
    -----
    ``torch.load(..., weights_only=True)`` with an explicit allow-list of numpy's scalar
    reconstructor and dtypes; never an unrestricted unpickling.
    """
    path = Path(path) if path is not None else aisfx_checkpoint_path()
    if not path.is_file():
        raise ParameterError(f"{path}: no aiSFX checkpoint there; install it with: {INSTALL_HINT}")
    if verify and (digest := pooch.file_hash(str(path), alg="sha256")) != AISFX_SHA256:
        raise ParameterError(f"{path}: sha256 {digest[:12]}… is not aisfx 0.1.2's checkpoint; reinstall it with: "
                             f"{INSTALL_HINT}")
    with torch.serialization.safe_globals(_numpy_allow_list()):
        weights, table = torch.load(path, map_location="cpu", weights_only=True)
    prefix = "embedding_net."
    state = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
    if len(state) != 4 * 12:
        raise ParameterError(f"{path}: expected the 4-block aiSFX embedding network, found {len(state)} tensors")
    return state, {str(k): (int(v[0]), int(v[1])) for k, v in table.items()}


class BackboneClassifier(nn.Module):
    """What a pretrained backbone with a new head shares (:class:`AiSFXClassifier`,
    :class:`~l2i_core.models.efficientat.EfficientATClassifier`): the fine-tuning interface.

    A subclass builds ``self.blocks`` (an ``nn.ModuleList``) and defines ``pool`` (a block-``n_blocks``
    map to the ``embedding_dim`` embedding) and ``load_backbone``; it sets the class attributes
    ``kind`` (the checkpoint sidecar's), ``features`` / ``n_mels`` (the front end it needs),
    ``n_blocks``, ``last_start`` (the first block ``'last'`` trains), ``tap_blocks`` (the indices of
    ``tap_layers``), ``embedding_dim`` and ``credit``. ``trainable``: ``'head'`` (the blocks frozen),
    ``'last'`` (blocks ``last_start..`` train) or ``'all'``; frozen blocks stay in eval mode.
    """

    kind = ""
    features = ""
    n_mels = 0
    n_blocks = 0
    last_start = 0
    tap_blocks: tuple[int, ...] = ()
    embedding_dim = 0
    credit = ""

    def _setup(self, n_classes: int, preset: str | Preset, *, multilabel: bool, hidden: int | None, dropout: float,
               trainable: str) -> None:
        """Check the preset and the arguments; keep them (call first in ``__init__``)."""
        p = get_preset(preset)
        if p.features != self.features or p.n_mels != self.n_mels:
            raise ParameterError(f"{type(self).__name__} needs its own front end (preset {self.kind!r}), got preset "
                                 f"{p.name!r}")
        if n_classes < 1:
            raise ParameterError(f"n_classes must be >= 1, got {n_classes}")
        if trainable not in TRAINABLE_BLOCKS:
            raise ParameterError(f"trainable must be one of {sorted(TRAINABLE_BLOCKS)}, got {trainable!r}")
        self.preset, self.n_classes, self.multilabel = p, int(n_classes), bool(multilabel)
        self.hidden, self.dropout_p, self.trainable = hidden, float(dropout), trainable

    def _make_head(self, hidden: int | None, dropout: float) -> nn.Sequential:
        """Dropout → [Linear(embedding, hidden) → ReLU → Dropout] → Linear(·, n_classes)."""
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        if hidden:
            layers += [nn.Linear(self.embedding_dim, hidden), nn.ReLU(), nn.Dropout(dropout)]
        layers.append(nn.Linear(hidden or self.embedding_dim, self.n_classes))
        return nn.Sequential(*layers)

    @property
    def n_frozen(self) -> int:
        """Number of bottom blocks fine-tuning leaves untouched."""
        return {"head": self.n_blocks, "last": self.last_start, "all": 0}[self.trainable]

    def set_trainable(self, trainable: str) -> None:
        """Freeze the bottom blocks (``requires_grad=False``) for ``'head'`` / ``'last'`` / ``'all'``."""
        if trainable not in TRAINABLE_BLOCKS:
            raise ParameterError(f"trainable must be one of {sorted(TRAINABLE_BLOCKS)}, got {trainable!r}")
        self.trainable = trainable
        for i, b in enumerate(self.blocks):
            for q in b.parameters():
                q.requires_grad_(i >= self.n_frozen)

    def train(self, mode: bool = True):
        super().train(mode)
        for b in self.blocks[: self.n_frozen]:  # frozen blocks keep the pretrained batch-norm statistics
            b.eval()
        return self

    def config(self) -> dict:
        """What :func:`~l2i_core.models.checkpoints.load_classifier` needs to rebuild this model."""
        return {"kind": self.kind, "hidden": self.hidden, "dropout": self.dropout_p, "trainable": self.trainable}

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 3:
            x = x.unsqueeze(1)
        if x.ndim != 4 or x.shape[1] != 1 or x.shape[2] != self.preset.n_mels:
            raise ParameterError(f"expected {self.kind} features (batch, {self.preset.n_mels}, n_frames), "
                                 f"got {tuple(x.shape)}")
        return x

    def bottom(self, x: torch.Tensor, n_blocks: int) -> torch.Tensor:
        """The output of the first ``n_blocks`` blocks (the frozen part fine-tuning computes once)."""
        x = self._check(x)
        for b in self.blocks[:n_blocks]:
            x = b(x)
        return x

    def top(self, h: torch.Tensor, start: int) -> torch.Tensor:
        """Logits from the output ``h`` of block ``start`` (0: the input features)."""
        for b in self.blocks[start:]:
            h = b(h)
        return self.head(self.pool(h))

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled embedding of features ``x`` (what the linear probe reads)."""
        return self.pool(self.bottom(x, self.n_blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, n_classes)``."""
        return self.head(self.embedding(x))

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(logits, taps)``: the logits and the outputs of the blocks ``tap_blocks``."""
        x = self._check(x)
        taps = []
        for i, b in enumerate(self.blocks):
            x = b(x)
            if i in self.tap_blocks:
                taps.append(x)
        return self.head(self.pool(x)), taps

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Sigmoid (multi-label) or softmax (multi-class) of the logits."""
        return probabilities(logits, self.multilabel)


class AiSFXClassifier(BackboneClassifier):
    """The aiSFX backbone with three named taps and a new head for the target classes.

    Parameters
    ----------
    n_classes : int
    preset : str or Preset
        Must describe aiSFX's front end (``'aisfx'``): 96 mel bands, ``features='aisfx'``.
    multilabel : bool
        Sigmoid outputs instead of softmax; the model returns logits either way.
    hidden : int or None
        Width of the head's hidden layer (``None``: a linear head).
    dropout : float
    pretrained : bool
        Load the aiSFX weights (``False``: random weights, for tests and ablations).
    trainable : {'head', 'last', 'all'}
        Which part fine-tuning updates (:data:`TRAINABLE_BLOCKS`); the frozen blocks stay in eval
        mode (their batch-norm statistics are aiSFX's).

    Notes
    -----
    Input ``(batch, 96, n_frames)`` (or with a channel axis of 1), f's features from
    :meth:`FrontEnd.logmel <l2i_core.audio.frontend.FrontEnd.logmel>`. The embedding is aiSFX's pooling:
    mean over frequency, then max over time (512-d). Taps: the outputs of blocks 2, 3 and 4
    (128, 256, 512 channels), ``(B, C, F, T)``.
    """

    tap_names = ("low", "mid", "high")
    tap_layers = ("blocks.1", "blocks.2", "blocks.3")
    tap_blocks = (1, 2, 3)
    channels = (64, 128, 256, 512)
    kind = "aisfx"
    features = "aisfx"
    n_mels = 96
    n_blocks = 4
    last_start = 3
    embedding_dim = 512
    credit = AISFX_CREDIT

    def __init__(self, n_classes: int, preset: str | Preset = "aisfx", *, multilabel: bool = False,
                 hidden: int | None = 256, dropout: float = 0.3, pretrained: bool = True, trainable: str = "last"):
        super().__init__()
        self._setup(n_classes, preset, multilabel=multilabel, hidden=hidden, dropout=dropout, trainable=trainable)
        c_in, blocks = 1, []
        for i, c in enumerate(self.channels):
            blocks.append(ConvBlock(c_in, c, pool=i < 3, pool_type="max"))  # aiSFX's ConvBlock
            c_in = c
        self.blocks = nn.ModuleList(blocks)
        self.head = self._make_head(hidden, dropout)
        if pretrained:
            self.load_backbone(load_aisfx_checkpoint()[0])
        self.set_trainable(trainable)

    # -- weights ---------------------------------------------------------------------------------
    def load_backbone(self, state: dict) -> None:
        """Load aiSFX's ``conv_block{i}.*`` tensors, transposing the kernels from (time, mel) to (mel, time)."""
        mine = {}
        for i in range(4):
            for k, v in state.items():
                if k.startswith(f"conv_block{i + 1}."):
                    name = k.split(".", 1)[1]
                    mine[f"{i}.{name}"] = v.transpose(-1, -2).contiguous() if v.ndim == 4 else v
        self.blocks.load_state_dict(mine, strict=True)

    @staticmethod
    def pool(h: torch.Tensor) -> torch.Tensor:
        """aiSFX's embedding of a block-4 map ``(B, 512, F, T)``: mean over frequency, max over time."""
        return h.mean(dim=2).amax(dim=2)
