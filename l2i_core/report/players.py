"""Compressed ``<audio>`` players for notebooks and static HTML reports.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

import numpy as np

from l2i_core.audio.waveform import encode_audio
from l2i_core.config import Preset, get_preset
from l2i_core.report.plots import get_preset_for_sr

__all__ = ["PLAYER_MAX_SR", "AudioPlayer", "audio_player", "player_table", "player_rows", "example_players", "stem_players", "interpretation_players", "explanation_players"]


#: Highest sample rate a player embeds: audio above it is resampled (librosa, soxr) before encoding, so
#: a page of 32 or 44.1 kHz players stays within the reports' budget; what f and the metrics see is not
#: affected (the content cut, above 11 kHz, is heard in ``l2i explain``'s files at the full rate).
PLAYER_MAX_SR = 22_050


class AudioPlayer:
    """An embeddable ``<audio controls>`` player (OGG/Vorbis data URI) with an optional caption.

    Displays in Jupyter through ``_repr_html_`` and survives ``nbconvert --to html``. Audio at more
    than ``max_sr`` (default :data:`PLAYER_MAX_SR`; ``None``: never) is resampled to it first.
    """

    def __init__(self, y: np.ndarray, sr: int, *, title: str | None = None, format: str = "ogg",
                 max_sr: int | None = PLAYER_MAX_SR):
        y = np.asarray(y, dtype=np.float32)
        self.duration = len(y) / int(sr)
        if max_sr is not None and int(sr) > int(max_sr):
            import librosa

            y, sr = librosa.resample(y, orig_sr=int(sr), target_sr=int(max_sr)).astype(np.float32), int(max_sr)
        self.sr = int(sr)
        self.title = title
        self.format = format
        self.data = encode_audio(np.clip(y, -1.0, 1.0), self.sr, format=format)

    @property
    def mime(self) -> str:
        return {"ogg": "audio/ogg", "wav": "audio/wav", "flac": "audio/flac"}[self.format.lower()]

    def to_html(self) -> str:
        b64 = base64.b64encode(self.data).decode("ascii")
        caption = f'<div style="font-size:90%">{html.escape(self.title)}</div>' if self.title else ""
        return (
            f'<div style="display:inline-block;margin:2px 8px 2px 0">{caption}'
            f'<audio controls preload="metadata" src="data:{self.mime};base64,{b64}"></audio></div>'
        )

    def _repr_html_(self) -> str:
        return self.to_html()
def audio_player(y: np.ndarray, sr: int, *, title: str | None = None, format: str = "ogg") -> AudioPlayer:
    """Return an :class:`AudioPlayer` for waveform ``y`` (not autoplaying, not looping)."""
    return AudioPlayer(y, sr, title=title, format=format)
class _HTML:
    def __init__(self, text: str):
        self.text = text

    def _repr_html_(self) -> str:
        return self.text
def player_table(players: Sequence[AudioPlayer], *, columns: int = 3):
    """Lay several players out in a grid (an object with ``_repr_html_``)."""
    cells = [p.to_html() for p in players]
    rows = ["".join(f"<td>{c}</td>" for c in cells[i : i + columns]) for i in range(0, len(cells), columns)]
    return _HTML("<table>" + "".join(f"<tr>{r}</tr>" for r in rows) + "</table>")
def player_rows(examples: Sequence[dict], sr: int):
    """One row of players per example, each example a ``{title: waveform}`` dict (e.g.
    :func:`l2i_core.evaluate.paper_protocols.mixture_examples`); an object with ``_repr_html_``."""
    return _HTML("".join(player_table([AudioPlayer(y, sr, title=t) for t, y in ex.items()],
                                      columns=max(1, len(ex))).text for ex in examples))
def example_players(ds, preset: str | Preset = "cpu", *, per_class: int = 1, split: str | None = None,
                    columns: int = 4, max_clips: int | None = None):
    """One player per class (first label) of dataset ``ds``: a quick way to listen to the data.

    ``max_clips``: at most this many players (the first classes); each 5 s clip embeds about 60 kB,
    and a report stays under 5 MB (ESC-50 has 50 classes). None: every class.
    """
    p = get_preset(preset)
    sub = ds.per_class(per_class, split=split)
    if max_clips is not None and len(sub) > max_clips:
        sub = sub.subset(range(int(max_clips)))
    players = [audio_player(sub.load(r, p), p.sr, title=f"{'+'.join(r.labels) or '(no label)'} · {r.uid}") for r in sub]
    return player_table(players, columns=columns)
def stem_players(ds, record, preset: str | Preset = "cpu", *, columns: int = 4):
    """Players for a mixture and each of its stems (mixtures with known sources only).

    The mixture and the stems are played at their true relative levels (no normalisation).
    """
    p = get_preset(preset)
    mix = ds.load(record, p, normalize=False)
    players = [audio_player(mix, p.sr, title=f"mixture {record.uid}: {', '.join(record.labels) or 'no event'}")]
    players += [audio_player(y, p.sr, title=f"stem: {name}") for name, y in ds.load_stems(record, p).items()]
    return player_table(players, columns=columns)
def interpretation_players(explanation, row: int = 0, *, max_components: int = 5, original: np.ndarray | None = None,
                           columns: int = 4):
    """Players for one row of an :class:`~l2i_core.explain.interface.Explanation`: the input, the
    explanation and, for an L2I row with its detail, each kept component (most relevant first, at most
    ``max_components``) and the residual.

    Parameters
    ----------
    explanation : Explanation
        With its audio (``attribute(..., with_audio=True)``).
    row : int
        Which row.
    max_components : int
    original : np.ndarray [shape=(n_samples,)] or None
        The input waveform; when omitted it is resynthesised from V and the phase.
    columns : int

    Returns
    -------
    An object with ``_repr_html_`` (a table of players).
    """
    import torch

    from l2i_core.audio.frontend import FrontEnd

    if explanation.audio is None:
        raise ValueError("this explanation has no audio; call attribute(..., with_audio=True)")
    e = explanation[int(row)]
    x, sr, audio = e.extras, e.sr, e.audio[0]
    if original is None:
        fe = FrontEnd(get_preset_for_sr(sr))
        original = fe.synthesize(torch.from_numpy(e.V[0]), torch.from_numpy(e.phase[0]), length=len(audio)).numpy()
    name = (x.get("class_name") or [None])[0]
    name = name if name is not None else f"class {int(e.target[0])}"
    players = [AudioPlayer(original, sr, title="input")]
    if "component_audio" in x:
        components, relevance = x["components"][0], x["relevance"][0]
        players.append(AudioPlayer(audio, sr, title=f"interpretation of {name} ({len(components)} comp.)"))
        for k, y in list(zip(components, x["component_audio"][0]))[:max_components]:
            players.append(AudioPlayer(y, sr, title=f"component {int(k)} (r = {relevance[k]:.2f})"))
        players.append(AudioPlayer(x["residual_audio"][0], sr, title="residual (input minus interpretation)"))
    else:
        players.append(AudioPlayer(audio, sr, title=f"{e.method}: explanation of {name}"))
    return player_table(players, columns=columns)


def explanation_players(explanations: dict, rows, *, inputs, stems=None, labels=None):
    """For each row: players for the input, its true stem (when known) and every explanation, side by side.

    Parameters
    ----------
    explanations : dict of str to Explanation
        By display name, each with the same rows (one per clip, as with ``target=None`` on a multi-class
        f or one target per clip).
    rows : iterable of int
        The rows to play.
    inputs : np.ndarray [shape=(B, n_samples)]
        The explained clips (row j's is ``inputs[clip[j]]``).
    stems : np.ndarray [shape=(B, n_samples)] or None
        The true stem of each clip.
    labels : sequence of str or None
        Per row, shown beside "input".

    Returns
    -------
    An object with ``_repr_html_`` (one row of players per explanation row).
    """
    first = next(iter(explanations.values()))
    examples = []
    for i in rows:
        c = int(first.clip[i])
        if any(int(e.clip[i]) != c for e in explanations.values()):
            raise ValueError(f"row {i} is not the same clip in every explanation; explain one target per clip")
        ex = {f"input{f' ({labels[i]})' if labels is not None else ''}": inputs[c]}
        if stems is not None:
            ex["true stem"] = stems[c]
        ex.update({name: e.audio[i] for name, e in explanations.items() if e.audio is not None})
        examples.append(ex)
    return player_rows(examples, first.sr)
