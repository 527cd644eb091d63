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
    """A threaded HTTP server on 127.0.0.1 serving one folder; counts the requests it answers."""

    def __init__(self, root: Path):
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                outer.requests.append(self.path)
                super().do_GET()

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
