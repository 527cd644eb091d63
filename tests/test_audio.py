"""Audio loading, validation and the torch front end."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch

from l2i_core import AudioError, ParameterError
from l2i_core.audio.frontend import FrontEnd
from l2i_core.audio.waveform import encode_audio, fix_duration, load_audio, peak_normalize
from l2i_core.config import PRESETS, get_preset


def _tone(sr=22050, dur=1.0, f=440.0, amp=0.5):
    t = np.arange(int(sr * dur)) / sr
    return (amp * np.sin(2 * np.pi * f * t)).astype(np.float32)


# -- presets --------------------------------------------------------------------------------------
def test_presets_match_design():
    cpu, paper = get_preset("cpu"), get_preset("paper")
    assert (cpu.sr, cpu.n_fft, cpu.hop_length, cpu.n_mels) == (22050, 1024, 512, 64)
    assert (paper.sr, paper.n_fft, paper.hop_length, paper.n_mels) == (44100, 1024, 512, 128)
    assert type(cpu) is type(paper)
    assert cpu.n_frames(5.0) == 216 and paper.n_frames(5.0) == 431
    with pytest.raises(ParameterError, match="unknown preset"):
        get_preset("gpu")


# -- loading --------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt,ext", [("WAV", "wav"), ("FLAC", "flac"), ("OGG", "ogg")])
def test_load_formats_resample_pad_normalise(tmp_path, fmt, ext):
    y = _tone(sr=16000, dur=0.5, amp=0.3)
    path = tmp_path / f"tone.{ext}"
    sf.write(path, y, 16000, format=fmt)
    out = load_audio(path, sr=22050, duration=1.0)
    assert out.dtype == np.float32 and out.shape == (22050,)
    assert np.isclose(np.abs(out).max(), 1.0)
    # the second half is zero padding
    assert np.abs(out[int(0.55 * 22050):]).max() < 1e-3
    # the pitch survived resampling: spectral peak at 440 Hz
    spec = np.abs(np.fft.rfft(out[: 11025]))
    assert abs(np.argmax(spec) * 22050 / 11025 - 440) < 5


def test_load_stereo_mixes_down(tmp_path):
    left, right = _tone(f=440, amp=0.4), _tone(f=440, amp=0.2)
    sf.write(tmp_path / "st.wav", np.stack([left, right], axis=1), 22050)
    y = load_audio(tmp_path / "st.wav", sr=22050, normalize=False)
    assert y.ndim == 1
    np.testing.assert_allclose(y, (left + right) / 2, atol=1e-4)
    both = load_audio(tmp_path / "st.wav", sr=22050, mono=False, normalize=False)
    assert both.shape == (2, 22050)


def test_crop(tmp_path):
    sf.write(tmp_path / "a.wav", _tone(dur=2.0), 22050)
    assert load_audio(tmp_path / "a.wav", sr=22050, duration=0.5).shape == (11025,)
    assert fix_duration(np.ones(10), 4).tolist() == [1, 1, 1, 1]
    assert fix_duration(np.ones(2), 4).tolist() == [1, 1, 0, 0]


def test_peak_normalize():
    y = np.array([0.1, -0.5, 0.25])
    np.testing.assert_allclose(peak_normalize(y), [0.2, -1.0, 0.5])
    assert np.all(peak_normalize(np.zeros(3)) == 0)


# -- bad input: one clear line naming the file ----------------------------------------------------
def _one_line(err: pytest.ExceptionInfo, path) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    assert str(path) in msg
    return msg


def test_missing_file(tmp_path):
    p = tmp_path / "nope.wav"
    with pytest.raises(AudioError) as e:
        load_audio(p)
    assert "not found" in _one_line(e, p)


def test_corrupt_file(tmp_path):
    p = tmp_path / "corrupt.wav"
    p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" + bytes(range(256)))
    with pytest.raises(AudioError) as e:
        load_audio(p)
    assert "cannot decode" in _one_line(e, p)


def test_not_audio_file(tmp_path):
    p = tmp_path / "notes.ogg"
    p.write_text("this is not audio")
    with pytest.raises(AudioError) as e:
        load_audio(p)
    assert "cannot decode" in _one_line(e, p)


def test_zero_length_file(tmp_path):
    p = tmp_path / "empty.wav"
    sf.write(p, np.zeros(0, dtype=np.float32), 22050)
    with pytest.raises(AudioError) as e:
        load_audio(p)
    assert "zero-length" in _one_line(e, p)


def test_nan_file(tmp_path):
    p = tmp_path / "nan.wav"
    y = _tone()
    y[100:110] = np.nan
    sf.write(p, y, 22050, subtype="FLOAT")
    with pytest.raises(AudioError) as e:
        load_audio(p)
    assert "NaN or inf" in _one_line(e, p)


def test_inf_file(tmp_path):
    p = tmp_path / "inf.wav"
    y = _tone()
    y[5] = np.inf
    sf.write(p, y, 22050, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN or inf"):
        load_audio(p)


def test_silent_file(tmp_path):
    p = tmp_path / "silence.wav"
    sf.write(p, np.zeros(22050, dtype=np.float32), 22050)
    with pytest.raises(AudioError) as e:
        load_audio(p)
    assert "all-silent" in _one_line(e, p)
    assert load_audio(p, allow_silence=True).shape == (22050,)


def test_folder_is_not_audio(tmp_path):
    with pytest.raises(AudioError, match="is a folder"):
        load_audio(tmp_path)


def test_bad_sample_rate_argument(tmp_path):
    sf.write(tmp_path / "a.wav", _tone(), 22050)
    with pytest.raises(ParameterError, match="sr must be"):
        load_audio(tmp_path / "a.wav", sr=0)


# -- encode ---------------------------------------------------------------------------------------
def test_encode_ogg_is_small_and_decodes():
    import io

    y = _tone(dur=2.0)
    ogg, wav = encode_audio(y, 22050), encode_audio(y, 22050, format="wav")
    assert len(ogg) * 3 < len(wav)
    back, sr = sf.read(io.BytesIO(ogg))
    assert sr == 22050 and abs(len(back) - len(y)) < 2048
    with pytest.raises(ParameterError):
        encode_audio(y, 22050, format="mp4")


# -- front end ------------------------------------------------------------------------------------
def test_frontend_shapes_batched():
    fe = FrontEnd("cpu")
    x = torch.randn(3, 22050 * 5)
    V, phase = fe.magnitude_phase(x)
    assert V.shape == phase.shape == (3, 513, 216)
    assert torch.all(V >= 0)
    assert fe.logmel(x).shape == (3, 64, 216)
    assert fe(x[0]).shape == (64, 216)
    assert fe.stft(x.reshape(3, 1, -1)).shape == (3, 1, 513, 216)


def test_frontend_batch_equals_single():
    fe = FrontEnd("cpu")
    x = torch.randn(2, 22050)
    both = fe.logmel(x)
    torch.testing.assert_close(both[1], fe.logmel(x[1]))


def test_frontend_rejects_bad_input():
    fe = FrontEnd("cpu")
    with pytest.raises(ParameterError):
        fe.stft(torch.zeros(3, 1))
    with pytest.raises(ParameterError):
        fe.istft(torch.zeros(513, 10))


@pytest.mark.realdata
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_stft_istft_round_trip_real_audio(esc10_root, preset):
    p = get_preset(preset)
    files = sorted((esc10_root / "audio").glob("*.ogg"))[:4]
    x = torch.from_numpy(np.stack([load_audio(f, sr=p.sr, duration=5.0) for f in files]))
    fe = FrontEnd(p)
    y = fe.istft(fe.stft(x), length=x.shape[-1])
    rel = (torch.linalg.vector_norm(y - x, dim=-1) / torch.linalg.vector_norm(x, dim=-1)).max().item()
    assert rel < 1e-4, rel
    # magnitude/phase path used by the interpreter: synthesise from log1p magnitude and phase
    V, phase = fe.magnitude_phase(x)
    y2 = fe.synthesize(V, phase, length=x.shape[-1])
    rel2 = (torch.linalg.vector_norm(y2 - x, dim=-1) / torch.linalg.vector_norm(x, dim=-1)).max().item()
    assert rel2 < 1e-4, rel2


@pytest.mark.realdata
@pytest.mark.parametrize("preset", sorted(n for n, q in PRESETS.items() if q.features == "db"))
def test_logmel_matches_librosa(esc10_root, preset):  # aisfx: checked against aiSFX's own function
    p = get_preset(preset)
    f = sorted((esc10_root / "audio").glob("*.ogg"))[7]
    y = load_audio(f, sr=p.sr, duration=5.0)
    ref = librosa.power_to_db(
        librosa.feature.melspectrogram(y=y, sr=p.sr, n_fft=p.n_fft, hop_length=p.hop_length, n_mels=p.n_mels, power=p.mel_power),
        ref=1.0, amin=1e-10, top_db=p.top_db,
    )
    ours = FrontEnd(p).logmel(torch.from_numpy(y)).numpy()
    assert ours.shape == ref.shape
    # float32 torch vs float32 librosa: agree to a small fraction of a dB. For the mel of the
    # magnitude (paper preset) the 80 dB range reaches 1e-8 of the peak magnitude, below float32's
    # resolution of a sum of large terms, so compare there within 60 dB of the peak only.
    keep = ref > ref.max() - (60 if p.mel_power == 1 else 80) - 1e-3
    assert np.max(np.abs(ours - ref)[keep]) < 0.05, np.max(np.abs(ours - ref)[keep])
    lin = FrontEnd(p).log_magnitude(torch.from_numpy(y)).numpy()
    ref_lin = np.log1p(np.abs(librosa.stft(y, n_fft=p.n_fft, hop_length=p.hop_length)))
    np.testing.assert_allclose(lin, ref_lin, atol=1e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_frontend_on_cuda_matches_cpu():
    x = torch.randn(4, 22050 * 2)
    cpu = FrontEnd("paper")
    gpu = FrontEnd("paper").to("cuda")
    torch.testing.assert_close(gpu.logmel(x.cuda()).cpu(), cpu.logmel(x), atol=1e-2, rtol=1e-3)
    X = gpu.stft(x.cuda())
    y = gpu.istft(X, length=x.shape[-1]).cpu()
    assert (torch.linalg.vector_norm(y - x) / torch.linalg.vector_norm(x)).item() < 1e-4


def test_paper_preset_mel_is_of_the_magnitude_as_the_official_code():
    import librosa
    import numpy as np
    import torch

    from l2i_core.audio.frontend import FrontEnd

    rng = np.random.default_rng(0)
    x = rng.standard_normal(44_100).astype(np.float32) * 0.1
    for name, power in (("paper", 1.0), ("cpu", 2.0)):
        fe = FrontEnd(name)
        mag = fe.stft(torch.from_numpy(x)).abs().numpy()
        ours = fe.mel_power(torch.from_numpy(x)).numpy()
        expected = fe.mel_basis.numpy() @ mag**power  # librosa.feature.melspectrogram(S=mag**power) with our basis
        np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-6)
        ref = librosa.feature.melspectrogram(S=mag, sr=fe.preset.sr, n_fft=fe.preset.n_fft, n_mels=fe.preset.n_mels,
                                             power=power)
        if name == "paper":  # melspectrogram(S=|X|) with power=1 is the official input
            np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=1e-5)


def test_preset_rejects_other_mel_powers():
    import pytest

    from l2i_core import ParameterError
    from l2i_core.config import Preset

    with pytest.raises(ParameterError, match="mel_power"):
        Preset(name="x", sr=16_000, mel_power=1.5)


def test_own_stft_front_end_goes_through_audio_and_refuses_a_bare_magnitude():
    """Preset aisfx: f reads its own STFT, so a V-grid magnitude reaches it through the input phase."""
    fe = FrontEnd("aisfx")
    assert not fe.shared_stft and FrontEnd("cpu").shared_stft
    x = torch.from_numpy(_tone(sr=44100, dur=1.0)[None]) + 0.01 * torch.randn(1, 44100)
    V, ph = fe.magnitude_phase(x)
    via = fe.features_from_magnitude(torch.expm1(V), ph, length=x.shape[-1])
    torch.testing.assert_close(via, fe.logmel(x), atol=2e-4, rtol=1e-3)  # exact up to the STFT round trip
    assert via.shape == (1, 96, 1 + 44100 // 1024)
    with pytest.raises(ParameterError, match="phase"):
        fe.features_from_magnitude(torch.expm1(V))
    M = torch.full_like(V, 0.5, requires_grad=True)
    fe.features_from_magnitude(torch.expm1(M * V), ph, length=x.shape[-1]).sum().backward()
    assert torch.isfinite(M.grad).all() and M.grad.abs().sum() > 0  # differentiable, for L-MAC


def test_integer_pcm_arrays_are_scaled_as_a_file_is(tmp_path):
    """int16 / int32 arrays read from a file equal the same file read as float, once scaled; others are refused."""
    from l2i_core.audio.waveform import as_float_samples, as_waveform_batch

    y = (0.5 * np.sin(np.linspace(0, 200, 8000))).astype(np.float32)
    for subtype, dtype in (("PCM_16", "int16"), ("PCM_32", "int32")):
        p = tmp_path / f"{subtype}.wav"
        sf.write(p, y, 8000, subtype=subtype)
        as_int, _ = sf.read(p, dtype=dtype)
        as_float, _ = sf.read(p, dtype="float32")
        np.testing.assert_array_equal(as_float_samples(as_int), as_float)
        torch.testing.assert_close(as_waveform_batch(as_int), torch.as_tensor(as_float)[None], rtol=0, atol=0)
        torch.testing.assert_close(as_waveform_batch(torch.as_tensor(as_int)), torch.as_tensor(as_float)[None],
                                   rtol=0, atol=0)
    for bad in (np.arange(10, dtype=np.int64), np.ones(10, dtype=bool), np.arange(10, dtype=np.uint8)):
        with pytest.raises(ParameterError) as e:
            as_waveform_batch(bad)
        assert "\n" not in str(e.value) and "int16 or int32" in str(e.value)


def test_explaining_an_int16_array_equals_explaining_the_float_file():
    from _toys import toy_explainer

    ex, n = toy_explainer()
    rng = np.random.default_rng(0)
    x16 = (rng.uniform(-0.5, 0.5, n) * 32768).astype(np.int16)
    a = ex.attribute(x16, target=0, tau=0.0)
    b = ex.attribute(x16.astype(np.float32) / 32768, target=0, tau=0.0)
    np.testing.assert_array_equal(a.extras["components"][0], b.extras["components"][0])
    np.testing.assert_allclose(a.audio[0], b.audio[0], atol=1e-6)
