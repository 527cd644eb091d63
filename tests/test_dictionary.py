"""Dictionaries brought by a user: the sample rate and n_fft travel with W and are checked (issue 13 item 6)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from l2i_core import ParameterError
from l2i_core.nmf.dictionary import Dictionary, load_dictionary, save_dictionary
from l2i_core.pipeline.run import run_config
from l2i_core.pipeline.steps import ensure_dictionary


def _W(rows=513, K=4):
    return np.abs(np.random.default_rng(0).standard_normal((rows, K))).astype(np.float32)


def test_save_records_sr_and_n_fft(tmp_path):
    path = save_dictionary(Dictionary(_W(), {"sparsity": 0.8}), tmp_path / "W", preset="cpu")
    d = load_dictionary(path, preset="cpu")
    assert (d.meta["sr"], d.meta["n_fft"]) == (22050, 1024)
    with pytest.raises(ParameterError, match="frequency rows"):
        save_dictionary(Dictionary(_W(100), {}), tmp_path / "bad", preset="cpu")


def test_a_44k_dictionary_is_refused_by_the_22k_preset_although_it_has_513_rows(tmp_path):
    path = save_dictionary(Dictionary(_W(), {}), tmp_path / "official", preset="paper")  # 44.1 kHz, n_fft 1024
    with pytest.raises(ParameterError, match="learned at 44100 Hz but preset 'cpu' runs at 22050 Hz"):
        load_dictionary(path, preset="cpu")
    assert load_dictionary(path, preset="paper").W.shape == (513, 4)


def test_a_row_count_that_is_not_the_presets_is_refused(tmp_path):
    np.save(tmp_path / "small.npy", _W(257))
    with pytest.raises(ParameterError, match="257 frequency rows but preset 'cpu' has 513"):
        load_dictionary(tmp_path / "small.npy", preset="cpu", sr=22050)


def test_a_bare_npy_needs_its_sample_rate(tmp_path):
    np.save(tmp_path / "initW.npy", _W())
    with pytest.raises(ParameterError, match=r"no sidecar.*sr=44100"):
        load_dictionary(tmp_path / "initW.npy", preset="cpu")
    with pytest.raises(ParameterError, match="no sidecar"):
        load_dictionary(tmp_path / "initW.npy")
    with pytest.raises(ParameterError, match="44100 Hz"):
        load_dictionary(tmp_path / "initW.npy", preset="cpu", sr=44100)
    d = load_dictionary(tmp_path / "initW.npy", preset="paper", sr=44100)
    assert (d.meta["sr"], d.meta["n_fft"]) == (44100, 1024)
    # a stated rate that contradicts the sidecar is refused
    path = save_dictionary(d, tmp_path / "with_sidecar")
    with pytest.raises(ParameterError, match="sr=22050 was given but its sidecar records 44100"):
        load_dictionary(path, sr=22050)


def test_ensure_dictionary_never_overwrites_a_users_file(tmp_path):
    cfg = run_config(dataset="esc10", artifacts_dir=tmp_path)
    ds = SimpleNamespace(name="esc10", multilabel=False)
    user = tmp_path / "dictionary.npy"
    np.save(user, _W())
    before = user.read_bytes()
    with pytest.raises(ParameterError, match="never overwritten: move it away, or pass it explicitly"):
        ensure_dictionary(cfg, ds)
    (tmp_path / "dictionary.json").write_text('{"note": "mine"}\n')  # a sidecar that learn_dictionary did not write
    with pytest.raises(ParameterError, match="never overwritten"):
        ensure_dictionary(cfg, ds)
    assert user.read_bytes() == before
    # passed explicitly, with its rate, it is checked against the preset and used as it is
    d, message = ensure_dictionary(cfg, ds, path=user, sr=22050)
    assert d.W.shape == (513, 4) and "using the dictionary given" in message
    with pytest.raises(ParameterError, match="44100 Hz"):
        ensure_dictionary(cfg, ds, path=user, sr=44100)
