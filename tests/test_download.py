"""Downloads on the first run, proved without the internet: archives served from 127.0.0.1.

A miniature ESC-10 archive in the upstream layout (class folders, as karolpiczak/ESC-10 holds it) is
built from real clips of ``$L2I_DATA/esc10`` and served by a local HTTP server; the registry entry is
pointed at it. A good archive is fetched, converted to the ESC-50 layout and loaded; a corrupted one is
refused with one line and leaves nothing in the cache; an offline run makes no request and says what
to do; ``reproduce`` checks its data before any notebook runs. One test serves the full 400-clip
archive and checks it against the real manifest: the download reproduces ``$L2I_DATA/esc10`` exactly.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import io
import tarfile
import threading
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from l2i_core import DataNotFoundError
from l2i_core.data import load_dataset, registry
from l2i_core.data._manifests import ESC10_COMMIT, ESC10_FILES

pytestmark = pytest.mark.realdata

TOP = f"ESC-10-{ESC10_COMMIT}"
FOLDER_OF_TARGET = {t: folder for folder, (t, _) in registry._ESC10_FOLDERS.items()}


class _Server:
    """A threaded HTTP server on 127.0.0.1 serving one folder; counts the requests it answers.

    Like a plain static server by default (no ``Range`` support: the whole file, status 200). Options for
    the download tests: ``serve_ranges`` answers ``Range: bytes=N-`` with 206 and the bytes after N;
    ``fail`` holds paths answered with a 500; ``cut`` maps a path to the bytes sent before the connection is
    dropped. ``ranges`` logs each request's ``Range`` header (``None`` when absent), beside ``requests``;
    ``sent`` the body bytes of each ranged or cut answer.
    """

    def __init__(self, root: Path):
        self.requests: list[str] = []
        self.ranges: list[str | None] = []
        self.sent: list[int] = []  # body bytes sent by each ranged or cut answer
        self.serve_ranges = False
        self.fail: set[str] = set()
        self.cut: dict[str, int] = {}
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                outer.requests.append(self.path)
                outer.ranges.append(self.headers.get("Range"))
                if self.path in outer.fail:
                    self.send_error(500, "injected failure")
                    return
                rng = self.headers.get("Range") if outer.serve_ranges else None
                if rng or self.path in outer.cut:
                    self._send_bytes(rng)
                    return
                super().do_GET()

            def _send_bytes(self, rng: str | None):
                data = Path(self.translate_path(self.path)).read_bytes()
                start = int(rng.removeprefix("bytes=").split("-")[0]) if rng else 0
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = data[start:]
                self.send_response(206 if rng else 200)
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                n = outer.cut.get(self.path)
                outer.sent.append(len(body if n is None else body[:n]))
                self.wfile.write(body if n is None else body[:n])
                self.wfile.flush()
                self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     functools.partial(Handler, directory=str(root)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    s = _Server(root)
    s.root = root
    yield s
    s.close()


def _upstream_tar(esc10_root: Path, out: Path, mini: bool = True, corrupt: str | None = None) -> dict:
    """A tar.gz of ESC-10 in the upstream layout from the real clips (mini: one clip per class of folds
    1, 2 and 3: test, validation and train); returns its manifest."""
    meta = pd.read_csv(esc10_root / "meta" / "esc10.csv")
    if mini:
        meta = meta[meta["fold"] <= 3].groupby(["target", "fold"]).head(1)
    manifest = {}
    with tarfile.open(out, "w:gz", compresslevel=1) as tf:
        for row in meta.itertuples():
            stem = row.filename.rsplit("-", 1)[0]  # 1-100032-A-0.ogg -> 1-100032-A
            rel = f"{FOLDER_OF_TARGET[row.target]}/{stem}.ogg"
            data = (esc10_root / "audio" / row.filename).read_bytes()
            manifest[rel] = (hashlib.sha256(data).hexdigest(), len(data))
            if corrupt == rel:
                data = data[:100] + bytes(b ^ 0xFF for b in data[100:200]) + data[200:]
            info = tarfile.TarInfo(f"{TOP}/{rel}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        readme = b"ESC-10 (test copy)\n"
        info = tarfile.TarInfo(f"{TOP}/README.txt")
        info.size = len(readme)
        tf.addfile(info, io.BytesIO(readme))
    return manifest


def _point_esc10_at(monkeypatch, url: str, manifest: dict | None) -> None:
    src = registry.SOURCES["esc10"]
    remote = dataclasses.replace(src.remotes[0], url=url)
    monkeypatch.setitem(registry.SOURCES, "esc10", dataclasses.replace(
        src, remotes=(remote,), manifest=manifest if manifest is not None else src.manifest))


def _leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_good_archive_is_fetched_converted_and_loaded(esc10_root, isolated_env, server, monkeypatch, capsys):
    manifest = _upstream_tar(esc10_root, server.root / "esc10.tar.gz")
    _point_esc10_at(monkeypatch, server.url("esc10.tar.gz"), manifest)
    root = registry.find_dataset_dir("esc10", download=True)
    cache = isolated_env / "cache"
    assert root == cache / "esc10" and _leftovers(cache) == ["esc10"]  # no partial folder, no archive kept
    err = capsys.readouterr().err
    assert "esc10: downloading a 41 MB archive (400 clips) from 127.0.0.1" in err and "ready in" in err
    ds = load_dataset("esc10")  # found in the cache now, no download flag needed
    assert len(ds) == 30 and len(ds.classes) == 10
    # The converted CSV holds exactly the rows of the real ESC-10 CSV for these clips.
    ours = pd.read_csv(root / "meta" / "esc10.csv")
    real = pd.read_csv(esc10_root / "meta" / "esc10.csv").set_index("filename").loc[ours["filename"]].reset_index()
    pd.testing.assert_frame_equal(ours, real)
    for f in ours["filename"]:
        assert (root / "audio" / f).read_bytes() == (esc10_root / "audio" / f).read_bytes()
    assert server.requests == ["/esc10.tar.gz"]


def test_corrupted_clip_is_refused_and_nothing_is_left(esc10_root, isolated_env, server, monkeypatch):
    manifest = _upstream_tar(esc10_root, server.root / "esc10.tar.gz", corrupt="002 - Rain/1-17367-A.ogg")
    _point_esc10_at(monkeypatch, server.url("esc10.tar.gz"), manifest)
    with pytest.raises(DataNotFoundError) as e:
        registry.find_dataset_dir("esc10", download=True)
    msg = str(e.value)
    assert "\n" not in msg and "checksum mismatch" in msg and "1-17367-A.ogg differs" in msg and "nothing was kept" in msg
    assert _leftovers(isolated_env / "cache") == []


def test_truncated_archive_is_refused_and_nothing_is_left(esc10_root, isolated_env, server, monkeypatch):
    manifest = _upstream_tar(esc10_root, server.root / "full.tar.gz")
    data = (server.root / "full.tar.gz").read_bytes()
    (server.root / "esc10.tar.gz").write_bytes(data[: len(data) // 2])
    _point_esc10_at(monkeypatch, server.url("esc10.tar.gz"), manifest)
    with pytest.raises(DataNotFoundError) as e:
        load_dataset("esc10", download=True)
    msg = str(e.value)
    assert "\n" not in msg and "failed" in msg and "nothing was kept" in msg
    assert _leftovers(isolated_env / "cache") == []


def test_archive_checksum_mismatch_is_refused(isolated_env, server, monkeypatch):
    """A source with a pooch ``known_hash`` (FSDD's, ESC-50's): a different file is refused by pooch."""
    (server.root / "fsdd.tar.gz").write_bytes(b"not the archive")
    src = registry.SOURCES["fsdd"]
    monkeypatch.setitem(registry.SOURCES, "fsdd", dataclasses.replace(
        src, remotes=(dataclasses.replace(src.remotes[0], url=server.url("fsdd.tar.gz")),)))
    with pytest.raises(DataNotFoundError) as e:
        registry.download_dataset("fsdd")
    assert "\n" not in str(e.value) and "ValueError" in str(e.value)
    assert _leftovers(isolated_env / "cache") == []


def test_offline_makes_no_request_and_says_what_to_do(esc10_root, isolated_env, server, monkeypatch):
    manifest = _upstream_tar(esc10_root, server.root / "esc10.tar.gz")
    _point_esc10_at(monkeypatch, server.url("esc10.tar.gz"), manifest)
    monkeypatch.setenv("L2I_OFFLINE", "1")
    with pytest.raises(DataNotFoundError) as e:
        load_dataset("esc10", download=True)
    msg = str(e.value)
    assert "\n" not in msg and "L2I_OFFLINE" in msg and "L2I_DATA" in msg
    assert server.requests == [] and _leftovers(isolated_env / "cache") == []


def test_reproduce_checks_data_before_any_notebook(isolated_env, tmp_path, monkeypatch):
    """Offline and with no data, ``reproduce`` stops at the check: no notebook starts, no report is written."""
    from l2i_core.pipeline import notebooks as pipeline

    ran = []
    monkeypatch.setattr(pipeline, "run_notebook", lambda *a, **k: ran.append(a))
    with pytest.raises(DataNotFoundError) as e:
        pipeline.reproduce("esc10", quick=True, reports_dir=tmp_path / "reports", offline=True)
    assert "esc10" in str(e.value) and "offline" in str(e.value)
    assert ran == [] and not (tmp_path / "reports").exists()


def test_reproduce_downloads_what_is_missing_first(esc10_root, fsdd_root, isolated_env, server, monkeypatch, tmp_path):
    manifest = _upstream_tar(esc10_root, server.root / "esc10.tar.gz")
    _point_esc10_at(monkeypatch, server.url("esc10.tar.gz"), manifest)
    monkeypatch.setenv("L2I_DATA", str(fsdd_root.parent / "nothing-here"))
    monkeypatch.setitem(registry.SOURCES, "fsdd", dataclasses.replace(registry.SOURCES["fsdd"],
                                                                     folders=("fsdd",)))
    (isolated_env / "cache").mkdir()
    (isolated_env / "cache" / "fsdd").symlink_to(fsdd_root)  # FSDD is there, ESC-10 is not
    found = registry.ensure_datasets("esc10")
    assert found == {"esc10": isolated_env / "cache" / "esc10", "fsdd": isolated_env / "cache" / "fsdd"}
    assert server.requests == ["/esc10.tar.gz"]


def test_required_datasets():
    assert registry.required_datasets("esc10") == ["esc10", "fsdd"]
    assert registry.required_datasets("urbanmix") == ["urbanmix", "esc10", "esc50-fold4", "fsdd"]
    assert registry.required_datasets("folder") == ["fsdd"]


def test_esc50_fold4_is_cut_from_the_esc50_archive(esc50_fold4_root, isolated_env, server, monkeypatch):
    """A miniature ESC-50 zip: only the subset's clips and CSV rows are unpacked and kept."""
    meta = pd.read_csv(esc50_fold4_root / "meta" / "esc50.csv", dtype=str)
    keep = meta.head(3)
    monkeypatch.setattr(registry, "_FOLD4", frozenset(f.rsplit(".", 1)[0] for f in keep["filename"]))
    other = meta.iloc[[0]].assign(filename="1-999999-A-0.flac", fold="1")
    csv = pd.concat([keep, other]).to_csv(index=False)
    with zipfile.ZipFile(server.root / "esc50.zip", "w") as zf:
        zf.writestr("ESC-50-master/meta/esc50.csv", csv)
        zf.writestr("ESC-50-master/LICENSE", "CC BY-NC 3.0\n")
        for f in keep["filename"]:
            zf.write(esc50_fold4_root / "audio" / f, f"ESC-50-master/audio/{f}")
        zf.writestr("ESC-50-master/audio/1-999999-A-0.flac", b"not in the subset")
    src = registry.SOURCES["esc50-fold4"]
    monkeypatch.setitem(registry.SOURCES, "esc50-fold4", dataclasses.replace(
        src, remotes=(dataclasses.replace(src.remotes[0], url=server.url("esc50.zip"), known_hash=None),)))
    root = registry.download_dataset("esc50-fold4")
    assert sorted(p.name for p in (root / "audio").iterdir()) == sorted(keep["filename"])
    assert len(pd.read_csv(root / "meta" / "esc50.csv")) == 3 and (root / "LICENSE").is_file()


@pytest.mark.slow
def test_full_archive_matches_the_real_manifest(esc10_root, isolated_env, server, monkeypatch):
    """All 400 clips against the manifest l2i ships: the download reproduces ``$L2I_DATA/esc10`` byte for byte."""
    manifest = _upstream_tar(esc10_root, server.root / "esc10.tar.gz", mini=False)
    assert manifest == ESC10_FILES  # the shipped manifest is the real clips' (the copy is byte-identical)
    _point_esc10_at(monkeypatch, server.url("esc10.tar.gz"), None)
    root = registry.download_dataset("esc10")
    assert (root / "meta" / "esc10.csv").read_bytes() == (esc10_root / "meta" / "esc10.csv").read_bytes()
    assert len(load_dataset("esc10")) == 400


def test_esc50_fold4_is_cut_from_an_esc50_folder_on_disk(esc50_fold4_root, isolated_env, monkeypatch):
    """With ESC-50 already on disk, the subset is copied from it: no download, the source left untouched."""
    import shutil

    meta = pd.read_csv(esc50_fold4_root / "meta" / "esc50.csv", dtype=str)
    keep = meta.head(3)
    monkeypatch.setattr(registry, "_FOLD4", frozenset(f.rsplit(".", 1)[0] for f in keep["filename"]))
    esc50 = isolated_env / "data" / "esc50"
    (esc50 / "audio").mkdir(parents=True)
    (esc50 / "meta").mkdir()
    meta.head(5).to_csv(esc50 / "meta" / "esc50.csv", index=False)
    for f in meta.head(5)["filename"]:
        shutil.copy(esc50_fold4_root / "audio" / f, esc50 / "audio" / f)
    monkeypatch.setenv("L2I_DATA", str(isolated_env / "data"))
    monkeypatch.setattr(registry.pooch, "retrieve", lambda *a, **k: pytest.fail("nothing should be downloaded"))
    (isolated_env / "data" / "fsdd").symlink_to(esc50_fold4_root.parent / "fsdd")
    found = registry.ensure_datasets("esc50-fold4")
    root = found["esc50-fold4"]
    assert root == isolated_env / "cache" / "esc50_fold4"
    assert sorted(p.name for p in (root / "audio").iterdir()) == sorted(keep["filename"])
    assert len(list((esc50 / "audio").iterdir())) == 5  # copied, not moved
    assert len(pd.read_csv(root / "meta" / "esc50.csv")) == 3


# --- Large downloads: the size stated first, agreement asked, resumed after a failure (a SONYC-UST stand-in) ---
#
# Three small tar.gz archives (``audio/<k>-<j>.wav``) and ``annotations.csv``, served from 127.0.0.1 in place
# of the 21 Zenodo files; the confirmation threshold is lowered below their size, so they count as "large".

SONYC_NAMES = ("audio-0.tar.gz", "audio-1.tar.gz", "audio-2.tar.gz", "annotations.csv")


def _fake_sonyc(server, monkeypatch, *, clip_bytes: int = 30_000) -> dict[str, bytes]:
    """Write the stand-in files into the server's folder, point the ``sonyc`` entry at them (md5 and exact
    sizes) and lower the threshold; returns ``relative path in the dataset: bytes`` of every file expected."""
    import random

    expected: dict[str, bytes] = {}
    remotes = []
    for k, name in enumerate(SONYC_NAMES):
        if name.endswith(".tar.gz"):
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tf:
                for j in range(2):
                    clip = random.Random(10 * k + j).randbytes(clip_bytes)  # incompressible: the archive is large
                    info = tarfile.TarInfo(f"audio/{k}-{j}.wav")
                    info.size = len(clip)
                    tf.addfile(info, io.BytesIO(clip))
                    expected[f"audio/{k}-{j}.wav"] = clip
            data = buf.getvalue()
        else:
            data = b"audio_filename,split\n0-0.wav,train\n"
            expected[name] = data
        (server.root / name).write_bytes(data)
        remotes.append(registry.Remote(url=server.url(name), known_hash=f"md5:{hashlib.md5(data).hexdigest()}",
                                       fname=name, archive="tar" if name.endswith(".tar.gz") else None,
                                       nbytes=len(data), nbytes_exact=True))
    src = registry.SOURCES["sonyc"]
    total = sum(r.nbytes for r in remotes)
    monkeypatch.setitem(registry.SOURCES, "sonyc", dataclasses.replace(
        src, remotes=tuple(remotes), size=f"{registry._human(total)} in {len(remotes)} files"))
    monkeypatch.setattr(registry, "CONFIRM_ABOVE_BYTES", 10_000)
    monkeypatch.setattr(registry, "_interactive", lambda: False)  # as under CI, make or a pipe
    monkeypatch.delenv("L2I_YES", raising=False)
    return expected


def _staged(cache: Path) -> list[str]:
    d = cache / ".sonyc-partial" / "downloads"
    return sorted(p.name for p in d.iterdir() if p.name != ".lock") if d.is_dir() else []


def _check_sonyc(root: Path, expected: dict[str, bytes]) -> None:
    assert registry.find_dataset_dir("sonyc") == root
    got = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert got == expected


def test_large_download_without_yes_and_without_a_terminal_is_refused(isolated_env, server, monkeypatch, capsys):
    from l2i_core.pipeline.cli import main

    _fake_sonyc(server, monkeypatch)
    total = sum((server.root / n).stat().st_size for n in SONYC_NAMES)
    assert main(["download", "sonyc"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("l2i: error: sonyc: ")
    assert f"{registry._human(total)} (4 files) to download from 127.0.0.1" in err[0]
    assert "not a terminal" in err[0] and "--yes" in err[0] and "L2I_YES=1" in err[0] and "about" not in err[0]
    with pytest.raises(registry.DownloadNotConfirmed):  # the first-run path (reproduce) stops the same way
        registry.ensure_datasets("sonyc")
    assert server.requests == [] and _leftovers(isolated_env / "cache") == []


def test_the_real_sonyc_entry_states_its_approximate_size_before_anything(isolated_env, monkeypatch):
    """The registered 21 Zenodo files: the refusal names about 13.3 GB, before any connection is made."""
    monkeypatch.setattr(registry, "_interactive", lambda: False)
    monkeypatch.delenv("L2I_YES", raising=False)
    monkeypatch.setattr(registry.pooch, "retrieve", lambda *a, **k: pytest.fail("nothing should be downloaded"))
    assert all(r.nbytes and not r.nbytes_exact for r in registry.SOURCES["sonyc"].remotes)
    with pytest.raises(registry.DownloadNotConfirmed) as e:
        registry.find_dataset_dir("sonyc", download=True)
    msg = str(e.value)
    assert "\n" not in msg and "about 13.3 GB (21 files) to download from zenodo.org" in msg and "--yes" in msg
    assert _leftovers(isolated_env / "cache") == []
    # the small datasets of the first run never ask
    for name in ("esc10", "fsdd", "esc50-fold4"):
        plan = registry.download_plan(name)
        assert plan.files == 1 and plan.todo_bytes <= registry.CONFIRM_ABOVE_BYTES


def test_a_terminal_is_asked(isolated_env, server, monkeypatch, capsys):
    expected = _fake_sonyc(server, monkeypatch)
    monkeypatch.setattr(registry, "_interactive", lambda: True)
    monkeypatch.setattr("builtins.input", lambda: "n")
    with pytest.raises(registry.DownloadNotConfirmed) as e:
        registry.download_dataset("sonyc")
    assert "declined" in str(e.value) and server.requests == [] and _leftovers(isolated_env / "cache") == []
    err = capsys.readouterr().err
    assert "sonyc: download " in err and "(4 files) from 127.0.0.1" in err and err.rstrip().endswith("[y/N]")
    monkeypatch.setattr("builtins.input", lambda: "y")
    _check_sonyc(registry.download_dataset("sonyc"), expected)


def test_with_yes_every_file_is_fetched_checked_unpacked_and_found(isolated_env, server, monkeypatch, capsys):
    from l2i_core.pipeline.cli import main

    expected = _fake_sonyc(server, monkeypatch)
    assert main(["download", "sonyc", "--yes"]) == 0
    out, err = capsys.readouterr()
    root = isolated_env / "cache" / "sonyc"
    assert out.strip() == str(root) and "(4 files)" in err and "sonyc: ready in" in err
    _check_sonyc(root, expected)
    assert server.requests == [f"/{n}" for n in SONYC_NAMES] and set(server.ranges) == {None}
    assert _leftovers(isolated_env / "cache") == ["sonyc"]  # the staging folder and the archives are gone
    server.requests.clear()
    assert main(["download", "sonyc"]) == 0 and server.requests == []  # on disk: nothing to do, nothing asked
    assert "already on disk" in capsys.readouterr().err


def test_a_failed_file_keeps_the_ones_before_it_and_a_rerun_fetches_only_the_rest(isolated_env, server,
                                                                                  monkeypatch):
    expected = _fake_sonyc(server, monkeypatch)
    server.fail.add("/audio-1.tar.gz")
    with pytest.raises(DataNotFoundError) as e:
        registry.download_dataset("sonyc", yes=True)
    msg = str(e.value)
    assert "\n" not in msg and "download of audio-1.tar.gz failed (HTTPError: 500" in msg
    assert "the 1 file fetched and verified before it" in msg and "rerun `l2i download sonyc` to resume" in msg
    cache = isolated_env / "cache"
    assert _leftovers(cache) == [".sonyc-partial"] and _staged(cache) == ["audio-0.tar.gz.done"]
    unpacked = cache / ".sonyc-partial" / "unpacked"
    assert sorted(p.name for p in (unpacked / "audio").iterdir()) == ["0-0.wav", "0-1.wav"]  # unpacked once, kept
    plan = registry.download_plan("sonyc")
    assert (plan.done, plan.todo) == (1, 3) and "1 of 4 files" in plan.describe()

    server.fail.clear()
    server.requests.clear()
    monkeypatch.setenv("L2I_YES", "1")  # the environment's agreement, on the library's path
    root = registry.find_dataset_dir("sonyc", download=True)
    assert server.requests == ["/audio-1.tar.gz", "/audio-2.tar.gz", "/annotations.csv"]
    _check_sonyc(root, expected)
    assert _leftovers(cache) == ["sonyc"]


def test_a_partial_file_is_resumed_with_a_range_request(isolated_env, server, monkeypatch):
    expected = _fake_sonyc(server, monkeypatch)
    server.serve_ranges = True
    data = (server.root / "audio-0.tar.gz").read_bytes()
    down = isolated_env / "cache" / ".sonyc-partial" / "downloads"
    down.mkdir(parents=True)
    (down / "audio-0.tar.gz.part").write_bytes(data[:20_000])  # what an interrupted run left
    assert "20 kB of an interrupted one already here" in registry.download_plan("sonyc").describe()
    _check_sonyc(registry.download_dataset("sonyc", yes=True), expected)  # md5 of the joined file checked
    assert list(zip(server.requests, server.ranges))[0] == ("/audio-0.tar.gz", "bytes=20000-")
    assert server.sent[0] == len(data) - 20_000  # only the rest crossed the wire


def test_a_dropped_connection_keeps_the_partial_file_and_the_rerun_resumes_it(isolated_env, server, monkeypatch):
    expected = _fake_sonyc(server, monkeypatch)
    monkeypatch.setattr(registry._ResumingDownloader, "chunk_size", 4096)
    server.serve_ranges = True
    server.cut["/audio-2.tar.gz"] = 30_000  # the connection drops 30 kB into the third archive
    with pytest.raises(DataNotFoundError) as e:
        registry.download_dataset("sonyc", yes=True)
    msg = str(e.value)
    assert "download of audio-2.tar.gz failed" in msg and "rerun `l2i download sonyc` to resume" in msg
    part = isolated_env / "cache" / ".sonyc-partial" / "downloads" / "audio-2.tar.gz.part"
    have = part.stat().st_size
    assert 0 < have <= 30_000 and "of audio-2.tar.gz" in msg and "the 2 files fetched and verified" in msg
    server.cut.clear()
    server.requests.clear()
    server.ranges.clear()
    server.sent.clear()
    _check_sonyc(registry.download_dataset("sonyc", yes=True), expected)
    assert server.requests == ["/audio-2.tar.gz", "/annotations.csv"] and server.ranges[0] == f"bytes={have}-"
    assert server.sent[0] == (server.root / "audio-2.tar.gz").stat().st_size - have


def test_a_server_without_ranges_restarts_the_one_file(isolated_env, server, monkeypatch):
    expected = _fake_sonyc(server, monkeypatch)  # serve_ranges is off: a Range request gets the whole file
    down = isolated_env / "cache" / ".sonyc-partial" / "downloads"
    down.mkdir(parents=True)
    (down / "audio-1.tar.gz.part").write_bytes(b"stale bytes that must not be kept")
    _check_sonyc(registry.download_dataset("sonyc", yes=True), expected)
    assert server.ranges[1] == "bytes=33-" and server.requests[1] == "/audio-1.tar.gz"


def test_a_checksum_mismatch_deletes_the_bad_file_and_names_both_hashes(isolated_env, server, monkeypatch):
    expected = _fake_sonyc(server, monkeypatch)
    good = (server.root / "audio-1.tar.gz").read_bytes()
    bad = good[:-10] + b"0123456789"
    (server.root / "audio-1.tar.gz").write_bytes(bad)
    with pytest.raises(DataNotFoundError) as e:
        registry.download_dataset("sonyc", yes=True)
    msg = str(e.value)
    assert "\n" not in msg and "audio-1.tar.gz failed its check (ValueError" in msg
    assert hashlib.md5(good).hexdigest() in msg and hashlib.md5(bad).hexdigest() in msg
    assert "the bad file was deleted" in msg and "rerun `l2i download sonyc` to fetch it again" in msg
    cache = isolated_env / "cache"
    assert _staged(cache) == ["audio-0.tar.gz.done"]  # no bad file, no .part, no temporary left; audio-0 kept
    (server.root / "audio-1.tar.gz").write_bytes(good)  # the host fixed
    server.requests.clear()
    _check_sonyc(registry.download_dataset("sonyc", yes=True), expected)
    assert server.requests == ["/audio-1.tar.gz", "/audio-2.tar.gz", "/annotations.csv"]
