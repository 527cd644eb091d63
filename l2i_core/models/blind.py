"""Region-blind classifiers: f that literally cannot see part of the time-frequency plane.

A ground truth about the *model* (not about the data): wrap any classifier f in :class:`RegionBlind`
and f's input features (mel bands × frames) outside a fixed ``visible`` region are replaced by one
constant before f runs, so nothing there can change f's output, and any relevance an explainer puts
there is wrong by construction. Trained on real audio seen through the same wrapper
(:func:`l2i_core.evaluate.model_truth.train_blind_classifier`), f is an ordinary classifier of the
visible part.

Regions (:class:`BlindRegion`, combined with ``&``):

* :func:`band_region` — the mel bands whose filter lies wholly inside ``[low_hz, high_hz]``, so f reads
  no STFT bin outside that band (``band_region(p, 0, 2000)``: blind to everything above 2 kHz);
* :func:`span_region` — the frames whose analysis window lies wholly inside ``[start_s, stop_s]``, so f
  reads no sample outside that span (``span_region(p, 0, 2.5, 5.0)``: blind to the second half).

The constant (:func:`blind_constants`) is **silence as f's front end writes it**, not the features'
mean: it carries nothing about any clip or dataset, it needs no pass over data, and it is what a mask
of 0 gives (a bin an explainer removes reaches f as silence), so deleting the invisible part of a clip
leaves f's output exactly as it was. For EfficientAT's features it is ``(log(1e-5) + 4.5) / 5`` (digital
silence); for the ``db`` features of the ``cpu`` and ``paper`` presets it is the floor below.

One channel needs closing for the ``db`` features: the front end clips every clip at ``top_db`` below
*its own peak*, and that peak may lie in the invisible region, so the clip floor of the visible values
would carry the loudness of what f must not see (and gradients flow to the peak's bin through
``amax``). :class:`RegionBlind` therefore also applies a fixed floor, ``max(x, floor)``, with ``floor``
= :func:`peak_bound_db` − ``top_db``: :func:`peak_bound_db` bounds the mel power of any clip in
``[-1, 1]`` (l2i peak-normalises every clip on loading), so ``peak − top_db ≤ floor`` always and
``max(max(db, peak − top_db), floor) = max(db, floor)`` no longer depends on the peak. For the ``cpu``
preset the floor is −41.2 dB (the per-clip floor of ESC-10 clips is −59 dB at the median): f loses the
quietest part of each clip, in the visible region too, and nothing else.

:func:`visible_region_on_grid` gives the STFT bins (V's grid, where every explanation lives) f can
see: a bin is invisible when every mel filter with a non-zero weight on it is invisible (a bin under no
filter at all, such as the DC bin of the ``cpu`` preset or EfficientAT's bins above 15 kHz, is never
seen), frames likewise.

Checkpoints: :func:`save_blind` writes ``blind.pt`` (the wrapper's state dict: the region and f's
weights) and ``blind.json``; :func:`load_blind` rebuilds it from them and f's ``classifier.json``
beside, reading with ``weights_only=True``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from l2i_core._errors import ParameterError
from l2i_core._utils import probabilities
from l2i_core.audio.frontend import FrontEnd
from l2i_core.config import Preset
from l2i_core.models.checkpoints import load_classifier

__all__ = ["BlindRegion", "RegionBlind", "band_region", "span_region", "blind_constants", "peak_bound_db",
           "visible_region_on_grid", "save_blind", "load_blind", "EFFICIENTAT_SILENCE", "DB_AMIN"]

#: EfficientAT's features of digital silence: ``(log(0 + 1e-5) + 4.5) / 5``.
EFFICIENTAT_SILENCE = float((np.log(1e-5) + 4.5) / 5.0)
#: The ``amin`` of :meth:`FrontEnd.power_to_db <l2i_core.audio.frontend.FrontEnd.power_to_db>`: -100 dB is its silence.
DB_AMIN = 1e-10


# -- the constant ----------------------------------------------------------------------------------------
def peak_bound_db(preset: str | Preset) -> float:
    """An upper bound, in dB, of every value of the mel spectrogram of f's front end for audio in ``[-1, 1]``.

    For mel filter ``m`` (weights ``a_k`` on f's STFT bins, pre-emphasis gain ``g_k``, window ``w``,
    ``n`` = n_fft) and power ``p``: ``|X_k| ≤ Σ|w|`` (triangle inequality), and for ``p = 2`` also
    ``Σ_k |X_k|² ≤ n Σ w²`` (Parseval), so ``Σ_k a_k (g_k |X_k|)^p`` is at most
    ``min(Σ_k a_k (g_k Σ|w|)^p, max_k(a_k g_k²) · n Σ w²)``; the bound is the largest over the filters.
    Padding (zeros, or reflected samples of the clip) keeps every sample in ``[-1, 1]``.

    Parameters
    ----------
    preset : str or Preset
        f's front end.

    Returns
    -------
    float
        The bound in dB (``10·log10``), as :meth:`FrontEnd.power_to_db
        <l2i_core.audio.frontend.FrontEnd.power_to_db>` would write it.
    """
    return _peak_bound_db(FrontEnd(preset))


def _peak_bound_db(fe: FrontEnd) -> float:
    p = fe.preset
    a = fe.mel_basis.double().numpy()
    w = fe.f_window.double().numpy()
    g = fe.f_gain.double().numpy()[:, 0] if fe.f_gain is not None else np.ones(a.shape[1])
    if p.mel_power == 2:
        b1 = (a * (g * np.abs(w).sum()) ** 2).sum(axis=1)
        b2 = (a * g**2).max(axis=1) * p.f_n_fft * (w**2).sum()
        bound = np.minimum(b1, b2).max()
    else:
        bound = (a * g * np.abs(w).sum()).sum(axis=1).max()
    return float(10.0 * np.log10(bound))


def blind_constants(preset: str | Preset) -> tuple[float, float | None]:
    """``(fill, floor)`` of :class:`RegionBlind` for f's features in ``preset``.

    ``fill`` replaces every invisible feature: silence as the front end writes it. ``floor`` (or None)
    is the fixed floor applied to every feature, which makes the ``db`` features' per-clip ``top_db``
    clip independent of the clip's peak (see the module docstring):

    =================  =========================================  ===========================
    features           fill                                       floor
    =================  =========================================  ===========================
    ``db``, top_db     :func:`peak_bound_db` − top_db (cpu: −41.2)  the same
    ``db``, no top_db  10·log10(amin) = −100 dB                   None
    ``efficientat``    (log(1e-5) + 4.5) / 5 ≈ −1.40               None
    ``aisfx``          log10(1) / max = 0                          None
    =================  =========================================  ===========================

    Parameters
    ----------
    preset : str or Preset

    Returns
    -------
    fill : float
    floor : float or None
    """
    return _constants(FrontEnd(preset))


def _constants(fe: FrontEnd) -> tuple[float, float | None]:
    p = fe.preset
    if p.features == "efficientat":
        return EFFICIENTAT_SILENCE, None
    if p.features == "aisfx":
        return 0.0, None
    if p.top_db is None:
        return float(10.0 * np.log10(DB_AMIN)), None
    floor = _peak_bound_db(fe) - float(p.top_db)
    return floor, floor


# -- regions ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class BlindRegion:
    """Which of f's input features (mel bands × frames) f sees.

    Attributes
    ----------
    visible : np.ndarray [shape=(n_mels or 1, n_frames or 1), dtype=bool]
        True where f sees its input; an axis of length 1 broadcasts (a band holds for clips of any length).
    description : dict
        What the region is (``kind`` and its parameters), as recorded in sidecars and results.
    """

    visible: np.ndarray
    description: dict = field(default_factory=dict)

    def __post_init__(self):
        v = np.asarray(self.visible, dtype=bool)
        if v.ndim != 2:
            raise ParameterError(f"a region's visible mask must be 2-D (mel bands, frames), got shape {v.shape}")
        if not v.any():
            raise ParameterError(f"region {self.description}: f would see nothing")
        object.__setattr__(self, "visible", v)

    def __and__(self, other: BlindRegion) -> BlindRegion:
        """Both regions at once (f sees what both let through)."""
        return BlindRegion(self.visible & other.visible,
                           {"kind": f"{self.description.get('kind', '?')}+{other.description.get('kind', '?')}",
                            "parts": [self.description, other.description]})

    @property
    def kind(self) -> str:
        return str(self.description.get("kind", "custom"))

    def to_dict(self) -> dict:
        """``description`` with the mask's shape and its visible mel bands / frames (JSON-able)."""
        v = self.visible
        out = {**self.description, "shape": list(v.shape)}
        if v.shape[0] > 1:
            out["visible_mels"] = int(v.any(axis=1).sum())
        if v.shape[1] > 1:
            out["visible_frames"] = int(v.any(axis=0).sum())
        return out


def band_region(preset: str | Preset, low_hz: float, high_hz: float) -> BlindRegion:
    """f sees the mel bands whose filter lies wholly inside ``[low_hz, high_hz]`` (every frame).

    A filter's extent is where its weight is non-zero on f's STFT bins (bin ``k`` at ``k·sr/n_fft`` Hz),
    so f reads no STFT bin outside the band: ``band_region(p, 0, 2000)`` is blind to everything above
    2 kHz.

    Parameters
    ----------
    preset : str or Preset
        f's front end (its mel filters).
    low_hz, high_hz : float
        The band, ``0 <= low_hz < high_hz``.

    Returns
    -------
    BlindRegion
        ``visible`` of shape ``(n_mels, 1)`` (every frame), ``kind`` ``'band'``.

    Raises
    ------
    ParameterError
        A bad band, or no filter lying wholly inside it.
    """
    if not 0 <= low_hz < high_hz:
        raise ParameterError(f"need 0 <= low_hz < high_hz, got {low_hz}, {high_hz}")
    fe = FrontEnd(preset)  # resolves a preset name, once
    p = fe.preset
    fb = fe.mel_basis.numpy()
    hz = np.arange(fb.shape[1]) * p.sr / p.f_n_fft
    keep = np.array([(row > 0).any() and hz[row > 0].min() >= low_hz and hz[row > 0].max() <= high_hz for row in fb])
    if not keep.any():
        raise ParameterError(f"no mel filter of preset {p.name!r} lies wholly inside [{low_hz}, {high_hz}] Hz")
    return BlindRegion(keep[:, None], {"kind": "band", "low_hz": float(low_hz), "high_hz": float(high_hz),
                                       "preset": p.name})


def span_region(preset: str | Preset, start_s: float, stop_s: float, duration: float) -> BlindRegion:
    """f sees the frames whose analysis window lies wholly inside ``[start_s, stop_s]`` of a clip of ``duration`` s.

    Frame ``t`` of f's STFT is centred on sample ``t·hop`` and reads the window around it (clipped to the
    clip: the centred STFT's padding is zeros or reflected samples of the clip's edge), so f reads no
    sample outside the span: ``span_region(p, 0, 2.5, 5.0)`` is blind to the second half of a 5 s clip.

    Parameters
    ----------
    preset : str or Preset
        f's front end (its hop and window).
    start_s, stop_s : float
        The span, ``0 <= start_s < stop_s <= duration``.
    duration : float
        The clips' length in seconds (the region holds for clips of this length only).

    Returns
    -------
    BlindRegion
        ``visible`` of shape ``(1, n_frames)`` (every mel band), ``kind`` ``'span'``.

    Raises
    ------
    ParameterError
        A bad span, or no frame lying wholly inside it.
    """
    p = FrontEnd(preset).preset  # resolves a preset name, once
    if not 0 <= start_s < stop_s <= duration:
        raise ParameterError(f"need 0 <= start_s < stop_s <= duration, got {start_s}, {stop_s}, {duration}")
    n = p.n_samples(duration)
    hop = p.f_hop_length
    win = p.window_length if p.shared_stft else p.f_n_fft
    centre = np.arange(1 + n // hop) * hop
    lo = np.clip(centre - win // 2, 0, n)
    hi = np.clip(centre + (win - win // 2), 0, n)
    keep = (lo >= round(start_s * p.sr)) & (hi <= round(stop_s * p.sr))
    if not keep.any():
        raise ParameterError(f"no frame of preset {p.name!r} lies wholly inside [{start_s}, {stop_s}] s")
    return BlindRegion(keep[None, :], {"kind": "span", "start_s": float(start_s), "stop_s": float(stop_s),
                                       "duration": float(duration), "preset": p.name})


# -- the wrapper -----------------------------------------------------------------------------------------
class RegionBlind(nn.Module):
    """``f(blind(x))``: f sees its input features only inside a fixed region; outside, one constant.

    ``blind(x) = where(visible, max(x, floor), fill)`` (:func:`blind_constants`), so the logits do not
    depend on any feature outside ``visible`` (nor, through the ``db`` features' per-clip ``top_db``
    clip, on the clip's peak), and their gradient there is exactly zero.

    Parameters
    ----------
    model : nn.Module
        f: features ``(B, n_mels, n_frames)`` (or ``(B, 1, n_mels, n_frames)``) → logits.
    region : BlindRegion, or array [shape=(n_mels or 1, n_frames or 1)]
        What f sees (True).
    preset : str, Preset or None
        f's front end (default ``model.preset``): sets ``fill`` and ``floor`` when they are not given.
    fill, floor : float or None
        Override :func:`blind_constants` (``floor=None`` with ``fill`` given: no floor).

    Attributes
    ----------
    model : nn.Module
    tap_layers : tuple of str
        f's taps with the wrapper's prefix (``'model.blocks.1'``, ...), for :class:`FeatureTap`, L2I and L-MAC.
    visible : torch.Tensor (bool buffer)
    fill, floor : torch.Tensor (0-d buffers; ``floor`` is −inf where there is none)
    """

    def __init__(self, model: nn.Module, region: BlindRegion | np.ndarray | torch.Tensor, *,
                 preset: str | Preset | None = None, fill: float | None = None, floor: float | None = None):
        super().__init__()
        if preset is None and getattr(model, "preset", None) is None:
            raise ParameterError("RegionBlind: give the preset (the model has no .preset)")
        fe = FrontEnd(preset if preset is not None else model.preset)  # resolves a preset name, once
        p = fe.preset
        if fill is None:
            fill, default_floor = _constants(fe)
            floor = default_floor if floor is None else floor
        self.model = model
        self.region = region if isinstance(region, BlindRegion) else None
        vis = region.visible if isinstance(region, BlindRegion) else region
        vis = torch.as_tensor(np.asarray(vis.cpu() if torch.is_tensor(vis) else vis), dtype=torch.bool)
        if vis.ndim != 2 or vis.shape[0] not in (1, p.n_mels):
            raise ParameterError(f"visible must be (n_mels={p.n_mels} or 1, n_frames or 1), got {tuple(vis.shape)}")
        if not bool(vis.any()):
            raise ParameterError("RegionBlind: the visible region is empty")
        self.preset = p
        self.register_buffer("visible", vis)
        self.register_buffer("fill", torch.tensor(float(fill)))
        self.register_buffer("floor", torch.tensor(float("-inf") if floor is None else float(floor)))
        self.tap_layers = tuple(f"model.{n}" for n in getattr(model, "tap_layers", ()))

    @property
    def n_classes(self) -> int:
        return int(self.model.n_classes)

    @property
    def multilabel(self) -> bool:
        return bool(getattr(self.model, "multilabel", False))

    def blind(self, x: torch.Tensor) -> torch.Tensor:
        """f's input as f sees it: ``where(visible, max(x, floor), fill)``, of ``x``'s shape and dtype."""
        v = self.visible
        if x.shape[-1] != v.shape[-1] and v.shape[-1] != 1:
            raise ParameterError(f"the region covers {v.shape[-1]} frames; the input has {x.shape[-1]}")
        if x.shape[-2] != v.shape[-2] and v.shape[-2] != 1:
            raise ParameterError(f"the region covers {v.shape[-2]} mel bands; the input has {x.shape[-2]}")
        floor, fill = self.floor.to(x.dtype), self.fill.to(x.dtype)
        return torch.where(v, torch.where(x > floor, x, floor), fill)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of f on :meth:`blind` ``(x)``."""
        return self.model(self.blind(x))

    def forward_features(self, x: torch.Tensor):
        """``(logits, taps)`` of f on :meth:`blind` ``(x)`` (where f has ``forward_features``)."""
        return self.model.forward_features(self.blind(x))

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Sigmoid (multi-label) or softmax (multi-class) of the logits."""
        return probabilities(logits, self.multilabel)

    def extra_repr(self) -> str:
        v = self.visible
        return (f"visible={int(v.any(1).sum())}/{v.shape[0]} mel rows × {int(v.any(0).sum())}/{v.shape[1]} frame "
                f"columns, fill={float(self.fill):.3f}, floor={float(self.floor):.3f}")


def visible_region_on_grid(blind: RegionBlind, preset: str | Preset, n_frames: int) -> np.ndarray:
    """The STFT bins (V's grid) that f can see, ``(n_freq, n_frames)`` bool.

    Bin ``(k, t)`` is visible when some mel filter with a non-zero weight on bin ``k`` is visible at frame
    ``t``; so a bin under invisible filters only (or under none) is invisible, and relevance there cannot
    be right. Needs f to read V's STFT (``preset.shared_stft``: every preset but ``aisfx``), where STFT
    frame ``t`` is f's frame ``t``.

    Parameters
    ----------
    blind : RegionBlind
        The wrapped f (its ``visible`` mask).
    preset : str or Preset
        f's front end.
    n_frames : int
        Frames of V (``preset.n_frames(duration)``).

    Returns
    -------
    np.ndarray [shape=(n_freq, n_frames), dtype=bool]

    Raises
    ------
    ParameterError
        A preset whose f has its own STFT, or a region of another number of frames or mel bands.
    """
    fe = FrontEnd(preset)
    p = fe.preset
    if not p.shared_stft:
        raise ParameterError(f"preset {p.name!r}: f has its own STFT, so its bins are not V's; "
                             "visible_region_on_grid needs a preset where f reads V's STFT")
    support = fe.v_mel_basis() > 0  # (n_mels, n_freq)
    v = blind.visible.cpu().numpy()
    if v.shape[0] not in (1, support.shape[0]) or v.shape[1] not in (1, int(n_frames)):
        raise ParameterError(f"the region covers {v.shape[0]} mel bands × {v.shape[1]} frames; preset {p.name!r} "
                             f"with {int(n_frames)} frames has {support.shape[0]} mel bands")
    vis = np.broadcast_to(v, (support.shape[0], int(n_frames)))
    return (support.T.astype(np.int64) @ vis.astype(np.int64)) > 0


# -- checkpoints -----------------------------------------------------------------------------------------
def save_blind(blind: RegionBlind, out_dir: str | Path, *, meta: dict | None = None) -> Path:
    """Write ``blind.pt`` (the wrapper's state dict: region, constants and f's weights) and ``blind.json``.

    :func:`load_blind` also needs f's ``classifier.json`` in ``out_dir`` (its architecture), as
    :func:`~l2i_core.models.checkpoints.save_classifier` writes it.

    Parameters
    ----------
    blind : RegionBlind
    out_dir : path
        Created if missing.
    meta : dict or None
        Extra entries of ``blind.json`` (the dataset, the classes, ...).

    Returns
    -------
    Path
        ``out_dir/blind.pt``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pt = out / "blind.pt"
    torch.save({k: v.detach().cpu() for k, v in blind.state_dict().items()}, pt)
    side = {**(meta or {}), "region": blind.region.to_dict() if blind.region is not None else None,
            "visible_shape": list(blind.visible.shape), "fill": float(blind.fill),
            "floor": None if not torch.isfinite(blind.floor) else float(blind.floor), "preset": blind.preset.name}
    pt.with_suffix(".json").write_text(json.dumps(side, indent=2, default=float) + "\n")
    return pt


def load_blind(path: str | Path, *, device: str | torch.device | None = "cpu") -> tuple[RegionBlind, dict]:
    """Rebuild a :class:`RegionBlind` saved by :func:`save_blind` (``weights_only=True``), in eval mode.

    Parameters
    ----------
    path : path
        ``blind.pt`` or its folder (which also holds f's ``classifier.pt`` / ``.json``).
    device : str, torch.device or None
        Where the model goes (None: the CPU).

    Returns
    -------
    blind : RegionBlind (eval mode)
    meta : dict
        ``blind.json``.

    Raises
    ------
    ParameterError
        No ``blind.pt`` / ``blind.json`` there.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "blind.pt"
    side = path.with_suffix(".json")
    if not path.is_file() or not side.is_file():
        raise ParameterError(f"{path}: no region-blind checkpoint (blind.pt + blind.json)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    meta = json.loads(side.read_text())
    inner, _ = load_classifier(path.parent / "classifier.pt")
    blind = RegionBlind(inner, state["visible"], preset=meta["preset"], fill=meta["fill"], floor=meta["floor"])
    blind.load_state_dict(state, strict=True)
    if meta.get("region"):
        desc = {k: v for k, v in meta["region"].items() if k not in ("shape", "visible_mels", "visible_frames")}
        blind.region = BlindRegion(state["visible"].numpy(), desc)
    return blind.to(device or "cpu").eval(), meta
