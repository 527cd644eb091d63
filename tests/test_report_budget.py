"""The committed reports stay within their budget (5 MB a page, 40 MB in all), and what keeps them there.

Known by construction: a player resamples audio above :data:`PLAYER_MAX_SR` and keeps its duration and
its pitch (a 1 kHz tone decodes back with its peak at 1 kHz); the kernels the pipeline starts read a
matplotlibrc with ``figure.dpi = REPORT_FIGURE_DPI`` and the variable is restored afterwards.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from l2i_core.pipeline.notebooks import REPORT_FIGURE_DPI, _report_matplotlibrc
from l2i_core.report.players import PLAYER_MAX_SR, AudioPlayer

ROOT = Path(__file__).resolve().parents[1]
PAGE_BUDGET, TOTAL_BUDGET = 5_000_000, 40_000_000


def test_committed_reports_are_within_budget():
    pages = sorted((ROOT / "reports").rglob("*.html"))
    assert pages, "no committed reports"
    big = {str(p.relative_to(ROOT)): p.stat().st_size for p in pages if p.stat().st_size > PAGE_BUDGET}
    assert not big, f"pages over 5 MB: {big}"
    # what is committed: the pages and results.json (the executed .ipynb beside them are git-ignored)
    total = sum(p.stat().st_size for p in (ROOT / "reports").rglob("*") if p.is_file() and p.suffix in (".html", ".json"))
    assert total <= TOTAL_BUDGET, f"reports/ holds {total / 1e6:.1f} MB > 40 MB"


def test_player_resamples_above_its_cap_and_keeps_pitch_and_duration():
    sr = 32_000
    t = np.arange(2 * sr) / sr
    p = AudioPlayer((0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32), sr)
    assert p.sr == PLAYER_MAX_SR == 22_050 and p.duration == 2.0
    y, sr_out = sf.read(io.BytesIO(p.data), dtype="float32")
    assert sr_out == PLAYER_MAX_SR and abs(len(y) - 2 * PLAYER_MAX_SR) < 1024
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spectrum) * sr_out / len(y) - 1000) < 5
    keep = AudioPlayer(np.zeros(sr, np.float32), sr, max_sr=None)
    assert keep.sr == sr
    low = AudioPlayer(np.zeros(16_000, np.float32), 16_000)
    assert low.sr == 16_000  # below the cap: untouched


def test_report_kernels_read_the_figure_resolution_and_the_variable_is_restored(monkeypatch):
    monkeypatch.setenv("MATPLOTLIBRC", "/somewhere/else")
    with _report_matplotlibrc():
        rc = Path(os.environ["MATPLOTLIBRC"]) / "matplotlibrc"
        assert rc.read_text().strip() == f"figure.dpi: {REPORT_FIGURE_DPI}"
    assert os.environ["MATPLOTLIBRC"] == "/somewhere/else"
