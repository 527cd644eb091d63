"""Presets and the paper's reference numbers.

Everything that describes *a configuration* (sample rate, STFT sizes, mel bands, clip length) lives
in one dataclass, :class:`Preset`, with two named instances:

========  ========  =============  =====  ==========================================
preset    sr (Hz)   n_fft / hop    mel    intended for
========  ========  =============  =====  ==========================================
``cpu``   22 050    1024 / 512     64     a 2-core CPU, minutes per experiment
``paper`` 44 100    1024 / 512     128    a GPU, the paper's resolution
========  ========  =============  =====  ==========================================

The paper's numbers (Parekh et al., NeurIPS 2022) are kept here, once, so that every table can
print them beside ours.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ._errors import ParameterError

__all__ = ["Preset", "PRESETS", "get_preset", "PAPER", "RunConfig", "run_config", "SHARED_PARAMETERS"]


@dataclass(frozen=True)
class Preset:
    """Signal-processing configuration shared by the front end, the dictionary and the models.

    Parameters
    ----------
    name : str
        Preset name, for display and for the JSON sidecars of saved artifacts.
    sr : int
        Sample rate in Hz every waveform is resampled to.
    n_fft : int
        FFT size (and Hann window length) in samples.
    hop_length : int
        Hop between frames in samples.
    n_mels : int
        Number of mel bands of the classifier input.
    fmin, fmax : float
        Mel filterbank range in Hz; ``fmax=None`` means ``sr / 2``.
    top_db : float or None
        Dynamic range of the log-mel input, as in :func:`librosa.power_to_db`, applied per clip.
    """

    name: str
    sr: int
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float | None = None
    top_db: float | None = 80.0

    def __post_init__(self):
        if self.sr <= 0 or self.n_fft <= 0 or self.hop_length <= 0 or self.n_mels <= 0:
            raise ParameterError(f"Preset {self.name!r}: sr, n_fft, hop_length and n_mels must be > 0")
        if self.hop_length > self.n_fft:
            raise ParameterError(f"Preset {self.name!r}: hop_length={self.hop_length} > n_fft={self.n_fft}")

    @property
    def n_freq(self) -> int:
        """Number of STFT frequency bins, ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    def n_samples(self, duration: float) -> int:
        """Number of samples in ``duration`` seconds."""
        return int(round(duration * self.sr))

    def n_frames(self, duration: float) -> int:
        """Number of STFT frames (centred) for a clip of ``duration`` seconds."""
        return 1 + self.n_samples(duration) // self.hop_length

    def replace(self, **changes) -> Preset:
        """Return a copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain-dict form, for JSON sidecars."""
        return dataclasses.asdict(self)


PRESETS: dict[str, Preset] = {
    "cpu": Preset(name="cpu", sr=22_050, n_fft=1024, hop_length=512, n_mels=64),
    "paper": Preset(name="paper", sr=44_100, n_fft=1024, hop_length=512, n_mels=128),
}


def get_preset(preset: str | Preset) -> Preset:
    """Return a :class:`Preset` from its name (``'cpu'`` or ``'paper'``), or pass one through.

    Raises
    ------
    ParameterError
        If the name is unknown.
    """
    if isinstance(preset, Preset):
        return preset
    try:
        return PRESETS[str(preset)]
    except KeyError:
        raise ParameterError(
            f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}"
        ) from None


#: Reference numbers from the paper (Parekh et al., NeurIPS 2022), shown beside ours.
PAPER = {
    "classifier": {
        "esc50_accuracy": 0.825,
        "sonyc_macro_auprc": 0.601,
        # Not from the L2I paper: Piczak (2015), CNN on ESC-10, 5-fold CV.
        "esc10_piczak2015_accuracy": 0.805,
    },
    "fidelity_esc50": {  # top-k fidelity in %, ESC-50, 5-fold CV
        "L2I attention": {"top1": 65.7, "top3": 81.8, "top5": 88.2},
        "L2I max-pool": {"top1": 73.3, "top3": 87.8, "top5": 92.7},
        "FLINT": {"top1": 73.5, "top3": 89.1, "top5": 93.4},
        "VIBI": {"top1": 27.7, "top3": 45.4, "top5": 53.0},
    },
    "fidelity_sonyc": {
        "L2I attention": {"macro_auprc": 0.909, "micro_auprc": 0.917, "max_f1": 0.847},
        "L2I max-pool": {"macro_auprc": 0.866, "micro_auprc": 0.913, "max_f1": 0.840},
        "FLINT": {"macro_auprc": 0.816, "micro_auprc": 0.907, "max_f1": 0.825},
        "VIBI": {"macro_auprc": 0.608, "micro_auprc": 0.575, "max_f1": 0.549},
    },
    # Median faithfulness (logit drop), ESC-50, attention Theta; random baseline < 1e-4.
    "faithfulness_esc50": {0.9: 0.002, 0.7: 0.004, 0.5: 0.012, 0.3: 0.040, 0.1: 0.113},
}


# -- notebook parameters ------------------------------------------------------------------------
#: The parameters every notebook exposes (checked by a test with ``papermill.inspect_notebook``).
SHARED_PARAMETERS = ("dataset", "data_dir", "preset", "seed", "quick", "artifacts_dir")
#: Size of the urbanmix build in quick runs (train / validation / test scenes).
QUICK_URBANMIX_SCENES = {"train": 24, "validation": 8, "test": 8}


@dataclass(frozen=True)
class RunConfig:
    """Validated notebook parameters. Build it with :func:`run_config`."""

    dataset: str
    data_dir: str | None
    preset: Preset
    seed: int
    quick: bool
    artifacts_dir: Path
    extra: dict = dataclasses.field(default_factory=dict)

    def load_dataset(self, **kwargs):
        """Load ``self.dataset`` from ``self.data_dir`` with ``self.seed``; quick runs build a small urbanmix."""
        from .data import load_dataset

        if self.quick and self.dataset == "urbanmix":
            kwargs.setdefault("n_scenes", QUICK_URBANMIX_SCENES)
        return load_dataset(self.dataset, data_dir=self.data_dir, seed=self.seed, **kwargs)

    def __getattr__(self, name):  # extra parameters read like fields: cfg.epochs
        extra = self.__dict__.get("extra", {})
        if name in extra:
            return extra[name]
        raise AttributeError(name)


def _as_bool(name: str, v) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return v.strip().lower() in ("true", "1", "yes")
    raise ParameterError(f"parameter {name}={v!r} must be true or false")


def _as_int(name: str, v) -> int:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ParameterError(f"parameter {name}={v!r} must be an integer") from None
    if f != int(f):
        raise ParameterError(f"parameter {name}={v!r} must be an integer")
    return int(f)


def run_config(*, dataset: str, data_dir=None, preset="cpu", seed=0, quick=False, artifacts_dir=None,
               **extra) -> RunConfig:
    """Validate and coerce a notebook's parameters in one call.

    papermill's ``-p`` guesses types (``-p seed 1e0`` arrives as the float 1.0, ``-p quick True``
    as a bool but ``-p quick true`` as a string); this turns them into the right types or raises
    one clear :class:`ParameterError`. Empty strings mean "not given".

    Returns
    -------
    RunConfig
        ``artifacts_dir`` defaults to ``artifacts/<dataset>-<preset>`` (``-quick`` appended for
        quick runs) in the working directory.
    """
    from .data import DATASETS

    name = str(dataset).strip().lower()
    if name not in DATASETS:
        raise ParameterError(f"parameter dataset={dataset!r} is not one of {list(DATASETS)}")
    p = get_preset(str(preset).strip().lower() if isinstance(preset, str) else preset)
    quick = _as_bool("quick", quick)
    data_dir = str(data_dir).strip() if data_dir not in (None, "") else None
    if artifacts_dir in (None, ""):
        artifacts_dir = Path("artifacts") / f"{name}-{p.name}{'-quick' if quick else ''}"
    return RunConfig(
        dataset=name, data_dir=data_dir, preset=p, seed=_as_int("seed", seed), quick=quick,
        artifacts_dir=Path(artifacts_dir), extra=dict(extra),
    )
