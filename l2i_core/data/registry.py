"""Where datasets live on disk, and checksummed downloads with pooch.

A dataset's folder is looked for, in this order:

1. the explicit ``data_dir`` argument (the dataset folder itself, or a folder holding it);
2. ``$L2I_DATA/<folder>`` for each of the dataset's usual folder names;
3. the user cache, ``$L2I_CACHE`` or ``pooch.os_cache("l2i")``, same folder names.

Nothing is downloaded unless asked: ``download=True`` here, or ``l2i reproduce`` (and so ``make
reproduce``), which checks every dataset its notebooks read before the first one starts
(:func:`ensure_datasets`) and downloads what is missing, saying what and how big. Downloads are
checksummed, go to a temporary name and are moved into the cache only once verified
(:func:`download_dataset`). ``L2I_OFFLINE=1`` (``l2i reproduce --offline``) turns them off. Offline, or
when the data is simply not there, one :class:`~l2i_core.DataNotFoundError` line says where l2i
looked and how to get the data.

========================  ===================================================  =====================
dataset                   source                                               download
========================  ===================================================  =====================
``esc10``                 github.com/karolpiczak/ESC-10 at a pinned commit      41 MB, every clip's
                                                                               sha256 checked
``esc50``                 github.com/karolpiczak/ESC-50, master archive        600 MB, md5
``esc50-fold4``           the same archive; only its 414 clips are kept         600 MB, md5
``fsdd``                  Jakobovski/free-spoken-digit-dataset v1.0.9           12 MB, sha256
``sonyc``                 Zenodo record 3966543                                 20 GB, md5 per file
``urbanmix``              built from ESC-10 and ESC-50 fold 4                   (nothing to download)
========================  ===================================================  =====================
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pooch

from l2i_core._errors import DataNotFoundError, ParameterError
from l2i_core.data._manifests import ESC10_COMMIT as _ESC10_COMMIT
from l2i_core.data._manifests import ESC10_FILES, ESC50_FOLD4_STEMS

__all__ = ["Remote", "DatasetSource", "SOURCES", "cache_dir", "find_dataset_dir", "download", "offline",
           "required_datasets", "ensure_datasets", "esc50_fold4_from_esc50"]


@dataclass(frozen=True)
class Remote:
    """One file to download: URL, pooch ``known_hash`` (``'md5:...'`` or ``'sha256:...'``), archive type."""

    url: str
    known_hash: str | None  # None only when the source has a manifest that checks every file instead
    fname: str
    archive: str | None = None  # 'zip', 'tar' or None


@dataclass(frozen=True)
class DatasetSource:
    """How to recognise, find and fetch one dataset."""

    name: str
    folders: tuple[str, ...]
    is_root: Callable[[Path], bool]
    remotes: tuple[Remote, ...] = ()
    size: str = ""
    how_to_get: str = ""
    extracted_root: str | None = None  # sub-folder of the unpacked archive(s) that holds the data
    #: ``relative path: (sha256, bytes)`` of every file that must be in ``extracted_root`` after unpacking
    manifest: dict[str, tuple[str, int]] | None = None
    #: only these archive members are unpacked (``None``: all)
    members: Callable[[str], bool] | None = None
    #: ``prepare(unpacked_root, out_dir) -> root``: turn the unpacked files into l2i's layout
    prepare: Callable[[Path, Path], Path] | None = None
    extra: dict = field(default_factory=dict)


def _esc_layout(p: Path) -> bool:
    return (p / "audio").is_dir() and any((p / "meta").glob("*.csv"))


def _esc10_layout(p: Path) -> bool:
    return (p / "audio").is_dir() and ((p / "meta" / "esc10.csv").exists() or (p / "meta" / "esc50.csv").exists())


def _fsdd_layout(p: Path) -> bool:
    return (p / "recordings").is_dir()


def _sonyc_layout(p: Path) -> bool:
    return (p / "annotations.csv").is_file()


# SONYC-UST v2 on Zenodo (record 3966543): file name and md5 as published there.
_SONYC_ZENODO = "https://zenodo.org/record/3966543/files/{}?download=1"
_SONYC_FILES = (
    ("audio-0.tar.gz", "bbb4dbae7d2e58e18d24878b9ee1eb51"),
    ("audio-1.tar.gz", "7c369ff37ac6a1fdd8493fdffe62e0a1"),
    ("audio-2.tar.gz", "412241c063d7f196953d3dd1c44aeb5e"),
    ("audio-3.tar.gz", "d2a872392d95993a2c238d305b940812"),
    ("audio-4.tar.gz", "b15b0e0cb3f8584259ef0d24293a9be3"),
    ("audio-5.tar.gz", "de745f887067433757a2f2c8f99f99bb"),
    ("audio-6.tar.gz", "b0286c67468369d66336f6f5ddede31f"),
    ("audio-7.tar.gz", "ff300183ab7a9d3f2f74c3b730ffeb52"),
    ("audio-8.tar.gz", "7be76b821fa6dbe20f6b50ca440e1024"),
    ("audio-9.tar.gz", "959f7edfbb26eadad9865069f38aa9dd"),
    ("audio-10.tar.gz", "84e94de273666c537a3e6b709ee88d9b"),
    ("audio-11.tar.gz", "44fe1f43121a7d1178aa0cdf7477793b"),
    ("audio-12.tar.gz", "a7eb21011f460b5ac289f8e285e875ab"),
    ("audio-13.tar.gz", "27945a8b1008eec787f97213164951e6"),
    ("audio-14.tar.gz", "fb8c7d81c3bde3a0c86c1e55e6a85a24"),
    ("audio-15.tar.gz", "f6af9b65d876ef96d199b9e5f0473cb9"),
    ("audio-16.tar.gz", "e8337c61a90c30989d500f950fbe443a"),
    ("audio-17.tar.gz", "3e47e85eb4564a30fe7f442ee97ec7b9"),
    ("audio-18.tar.gz", "c6b2ef4d0d5b7269d465c469cdbbdc4b"),
    ("annotations.csv", "70b507b15bb4cfcce4870925302f276b"),
    ("dcase-ust-taxonomy.yaml", "6c1cca1c4c383a6ebb0cb71cb74fe3a9"),
)

# ESC-10 as its author published it (karolpiczak/ESC-10): class folders "001 - Dog bark/1-100032-A.ogg".
# l2i reads the ESC-50 layout, so the download is renamed "<clip>-<ESC-50 target>.ogg" with an esc10.csv in
# ESC-50's columns: the same files and CSV as the copy in $L2I_DATA/esc10.
_ESC10_FOLDERS = {
    "001 - Dog bark": (0, "dog"), "002 - Rain": (10, "rain"), "003 - Sea waves": (11, "sea_waves"),
    "004 - Baby cry": (20, "crying_baby"), "005 - Clock tick": (38, "clock_tick"),
    "006 - Person sneeze": (21, "sneezing"), "007 - Helicopter": (40, "helicopter"), "008 - Chainsaw": (41, "chainsaw"),
    "009 - Rooster": (1, "rooster"), "010 - Fire crackling": (12, "crackling_fire"),
}
_ESC10_URL = "https://github.com/karolpiczak/ESC-10/archive/{}.tar.gz"
_ESC50_URL = "https://github.com/karolpiczak/ESC-50/archive/master.zip"
_FOLD4 = frozenset(ESC50_FOLD4_STEMS)


def _write_csv(rows: list[dict], path: Path) -> None:
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).sort_values("filename").to_csv(path, index=False, lineterminator="\n")


def _prepare_esc10(root: Path, out: Path) -> Path:
    """Upstream ESC-10 (class folders) → the ESC-50 layout: ``audio/<clip>-<target>.ogg`` and ``meta/esc10.csv``."""
    (out / "audio").mkdir(parents=True)
    rows = []
    for f in sorted(root.glob("*/*.ogg")):
        if f.parent.name not in _ESC10_FOLDERS:
            raise ValueError(f"unknown ESC-10 class folder {f.parent.name!r}")
        target, category = _ESC10_FOLDERS[f.parent.name]
        fold, src_file, take = f.stem.split("-")
        name = f"{f.stem}-{target}.ogg"
        shutil.move(f, out / "audio" / name)
        rows.append({"filename": name, "fold": int(fold), "target": target, "category": category, "esc10": True,
                     "src_file": src_file, "take": take})
    _write_csv(rows, out / "meta" / "esc10.csv")
    if (root / "README.txt").is_file():
        shutil.move(root / "README.txt", out / "README.txt")
    return out


def _esc50_fold4_member(name: str) -> bool:
    parts = name.split("/")
    if parts[-1] in ("esc50.csv", "LICENSE", "README.md") and len(parts) <= 3:
        return True
    return len(parts) == 3 and parts[1] == "audio" and parts[2].rsplit(".", 1)[0] in _FOLD4


def _prepare_esc50_fold4(root: Path, out: Path, *, copy: bool = False) -> Path:
    """The full ESC-50's fold-4 subset: its clips and their rows of ``meta/esc50.csv`` (moved out of an
    unpacked archive, or copied from an ESC-50 folder already on disk with ``copy=True``)."""
    import pandas as pd

    transfer = shutil.copy2 if copy else shutil.move
    df = pd.read_csv(root / "meta" / "esc50.csv", dtype=str)
    keep = df[df["filename"].str.rsplit(".", n=1).str[0].isin(_FOLD4)]
    if len(keep) != len(_FOLD4):
        raise ValueError(f"the ESC-50 CSV lists {len(keep)} of the {len(_FOLD4)} clips of esc50-fold4")
    (out / "audio").mkdir(parents=True)
    for f in keep["filename"]:
        transfer(root / "audio" / f, out / "audio" / f)
    _write_csv(keep.to_dict("records"), out / "meta" / "esc50.csv")
    if (root / "LICENSE").is_file():
        transfer(root / "LICENSE", out / "LICENSE")
    return out


def esc50_fold4_from_esc50(esc50_root: str | os.PathLike) -> Path:
    """Cut ``esc50-fold4`` (its 414 clips and CSV rows) from an ESC-50 folder already on disk, into the cache.

    What :func:`ensure_datasets` does instead of downloading the 600 MB archive when ESC-50 is there.
    The copy is made in a temporary folder and moved into ``<cache>/esc50_fold4`` in one rename.
    """
    target = cache_dir() / SOURCES["esc50-fold4"].folders[0]
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".esc50_fold4-partial-", dir=target.parent) as tmp:
        try:
            out = _prepare_esc50_fold4(Path(esc50_root), Path(tmp) / "prepared", copy=True)
        except (ValueError, OSError) as err:
            raise DataNotFoundError(f"esc50-fold4: cannot cut it from {esc50_root} ({_first_line(err)}); "
                                    f"get it with {SOURCES['esc50-fold4'].how_to_get}") from None
        os.replace(out, target)
    print(f"esc50-fold4: its 414 clips copied from {esc50_root} into {target}", file=sys.stderr, flush=True)
    return target


# Checksums as published by the hosts: ESC-50's GitHub archive (md5, as in soundata and HEAR; a
# branch archive can be regenerated, so a mismatch is reported as such), FSDD v1.0.9 (sha256, as in
# TensorFlow Datasets), SONYC-UST v2 (md5, Zenodo).
SOURCES: dict[str, DatasetSource] = {
    "esc50": DatasetSource(
        name="esc50",
        folders=("esc50", "ESC-50", "ESC-50-master", "esc50/ESC-50-master"),
        is_root=_esc_layout,
        remotes=(
            Remote(
                url=_ESC50_URL,
                known_hash="md5:7771e4b9d86d0945acce719c7a59305a",
                fname="ESC-50-master.zip",
                archive="zip",
            ),
        ),
        size="about 600 MB",
        extracted_root="ESC-50-master",
        how_to_get="l2i_core.data.download('esc50')",
    ),
    "esc10": DatasetSource(
        name="esc10",
        # ESC-10 is the esc10==True subset of ESC-50: a full ESC-50 folder serves as well.
        folders=("esc10", "ESC-10", "esc50", "ESC-50", "ESC-50-master", "esc50/ESC-50-master"),
        is_root=_esc10_layout,
        # GitHub's archive of the last commit with the audio; every clip is checked against its sha256
        # (the archive bytes themselves are not promised stable, see _manifests.py).
        remotes=(Remote(url=_ESC10_URL.format(_ESC10_COMMIT), known_hash=None,
                        fname=f"ESC-10-{_ESC10_COMMIT}.tar.gz", archive="tar"),),
        size="a 41 MB archive (400 clips)",
        extracted_root=f"ESC-10-{_ESC10_COMMIT}",
        manifest=ESC10_FILES,
        prepare=_prepare_esc10,
        how_to_get="l2i_core.data.download('esc10'), or clone github.com/karolpiczak/ESC-10 at "
                   f"{_ESC10_COMMIT[:7]} and convert it",
    ),
    "esc50-fold4": DatasetSource(
        name="esc50-fold4",
        folders=("esc50_fold4", "esc50-fold4"),
        is_root=_esc_layout,
        # The ESC-50 archive (its md5 checked), of which only the 414 clips of the subset are unpacked and kept.
        remotes=(Remote(url=_ESC50_URL, known_hash="md5:7771e4b9d86d0945acce719c7a59305a",
                        fname="ESC-50-master.zip", archive="zip"),),
        size="the 600 MB ESC-50 archive, of which 414 clips (about 90 MB) are kept",
        extracted_root="ESC-50-master",
        members=_esc50_fold4_member,
        prepare=_prepare_esc50_fold4,
        how_to_get="l2i_core.data.download('esc50-fold4'), or copy ESC-50's fold-4 clips into <L2I_DATA>/esc50_fold4",
    ),
    "fsdd": DatasetSource(
        name="fsdd",
        folders=("fsdd", "free-spoken-digit-dataset"),
        is_root=_fsdd_layout,
        remotes=(
            Remote(
                url="https://github.com/Jakobovski/free-spoken-digit-dataset/archive/v1.0.9.tar.gz",
                known_hash="sha256:8bc44cde129d505cbbb6b365c09f80c663f2aa77578afc634e6141a2f87100c0",
                fname="free-spoken-digit-dataset-1.0.9.tar.gz",
                archive="tar",
            ),
        ),
        size="about 12 MB",
        extracted_root="free-spoken-digit-dataset-1.0.9",
        how_to_get="l2i_core.data.download('fsdd')",
    ),
    "sonyc": DatasetSource(
        name="sonyc",
        folders=("sonyc", "sonyc_ust", "sonyc-ust", "SONYC-UST"),
        is_root=_sonyc_layout,
        remotes=tuple(
            Remote(url=_SONYC_ZENODO.format(name), known_hash=f"md5:{md5}", fname=name,
                   archive="tar" if name.endswith(".tar.gz") else None)
            for name, md5 in _SONYC_FILES
        ),
        size="about 20 GB",
        how_to_get="l2i_core.data.download('sonyc'), or build a small stand-in with dataset='urbanmix'",
    ),
    "urbanmix": DatasetSource(
        name="urbanmix",
        folders=("urbanmix",),
        is_root=_sonyc_layout,
        how_to_get="l2i_core.data.build_urbanmix(out_dir) (needs ESC-10 and/or ESC-50 clips)",
    ),
}


def cache_dir() -> Path:
    """The user cache for downloads and built datasets: ``$L2I_CACHE`` or ``pooch.os_cache('l2i')``."""
    env = os.environ.get("L2I_CACHE")
    return Path(env).expanduser() if env else Path(pooch.os_cache("l2i"))


def _source(name: str) -> DatasetSource:
    try:
        return SOURCES[name]
    except KeyError:
        raise ParameterError(f"unknown dataset {name!r}; choose one of {sorted(SOURCES)} or 'folder'") from None


def candidate_dirs(name: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Every folder :func:`find_dataset_dir` tries, in order."""
    src = _source(name)
    out: list[Path] = []
    if data_dir is not None:
        d = Path(data_dir).expanduser()
        out += [d] + [d / f for f in src.folders]
    env = os.environ.get("L2I_DATA")
    if env:
        out += [Path(env).expanduser() / f for f in src.folders]
    out += [cache_dir() / f for f in src.folders]
    return out


def find_dataset_dir(name: str, data_dir: str | os.PathLike | None = None, *, download: bool = False) -> Path:
    """Return the folder that holds dataset ``name``.

    Parameters
    ----------
    name : str
        Registry name: ``'esc10'``, ``'esc50'``, ``'esc50-fold4'``, ``'fsdd'``, ``'sonyc'``, ``'urbanmix'``.
    data_dir : path or None
        Explicit location (tried first). When given and not valid, the search stops there:
        an explicit path that is wrong is an error, not something to silently replace.
    download : bool
        Download into the user cache if not found (only datasets with a registered remote).

    Raises
    ------
    DataNotFoundError
        One line naming where l2i looked and how to get the data.
    """
    src = _source(name)
    if data_dir is not None:
        d = Path(data_dir).expanduser()
        for cand in [d] + [d / f for f in src.folders]:
            if src.is_root(cand):
                return cand
        raise DataNotFoundError(
            f"{name}: data_dir={d} does not hold the {name} layout; point it at the dataset folder "
            f"(or set L2I_DATA and leave data_dir empty)"
        )
    for cand in candidate_dirs(name):
        if src.is_root(cand):
            return cand
    if download and src.remotes:
        return download_dataset(name)
    env = os.environ.get("L2I_DATA")
    where = f"$L2I_DATA={env}" if env else "$L2I_DATA (not set)"
    raise DataNotFoundError(
        f"{name}: not found in {where} (folders {', '.join(src.folders)}) nor in the cache {cache_dir()}; "
        f"set L2I_DATA to the folder holding it, pass data_dir=..., or get it with {src.how_to_get}"
    )


def offline() -> bool:
    """Whether downloads are off: ``$L2I_OFFLINE`` set to ``1``/``true``/``yes`` (``l2i reproduce --offline`` sets it)."""
    return os.environ.get("L2I_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _safe_members(names, where: Path, archive: str) -> None:
    root = where.resolve()
    for n in names:
        if not (root / n).resolve().is_relative_to(root):
            raise ValueError(f"{archive} holds a path outside its folder ({n!r})")


def _extract(archive: Path, kind: str, into: Path, members: Callable[[str], bool] | None = None) -> None:
    """Unpack ``archive`` (``'zip'`` or ``'tar'``) into ``into``, only the members ``members`` accepts."""
    into.mkdir(parents=True, exist_ok=True)
    if kind == "zip":
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if members is None or members(n)]
            _safe_members(names, into, archive.name)
            for n in names:
                zf.extract(n, into)
    else:
        with tarfile.open(archive) as tf:
            chosen = [m for m in tf.getmembers() if members is None or members(m.name)]
            tf.extractall(into, members=chosen, filter="data")


def _check_manifest(folder: Path, manifest: dict[str, tuple[str, int]]) -> None:
    """Every file of ``manifest`` (``relative path: (sha256, bytes)``) is in ``folder`` with that content."""
    bad = []
    for rel, (sha, size) in manifest.items():
        f = folder / rel
        if not f.is_file():
            bad.append(f"{rel} missing")
        elif f.stat().st_size != size or hashlib.sha256(f.read_bytes()).hexdigest() != sha:
            bad.append(f"{rel} differs")
        if len(bad) >= 3:
            break
    if bad:
        raise ValueError(f"checksum mismatch: {', '.join(bad)}")


def download_dataset(name: str) -> Path:
    """Download, check and unpack dataset ``name`` into the user cache (:func:`cache_dir`).

    What is done, for each registered :class:`Remote`: one line says what is fetched and how big; pooch
    downloads it (with a progress bar) to a temporary name and keeps it only when its checksum matches;
    the archive is unpacked into a temporary folder beside the cache, its files are checked against the
    source's manifest when it has one (ESC-10: every clip's sha256), the source's ``prepare`` step turns
    it into l2i's layout (ESC-10: the ESC-50 layout and CSV), and only then is the result moved into
    ``<cache>/<folder>`` in one rename. On any failure the temporary files are deleted: nothing
    half-downloaded or half-extracted is left behind. Nothing is downloaded when :func:`offline`.

    Raises
    ------
    DataNotFoundError
        Offline, or when the download fails (no network, host down, checksum mismatch, corrupt archive):
        one line that says how to get the data by hand.
    """
    src = _source(name)
    if not src.remotes:
        raise DataNotFoundError(f"{name}: no download is registered; get it with {src.how_to_get}")
    target = cache_dir() / src.folders[0]
    if offline():
        raise DataNotFoundError(
            f"{name}: not on disk and downloads are off (offline: --offline or L2I_OFFLINE=1); unset L2I_OFFLINE "
            f"to let l2i download it ({src.size}), or get it by hand ({src.how_to_get}) and set L2I_DATA"
        )
    if target.exists():
        raise DataNotFoundError(
            f"{name}: {target} exists but does not hold the {name} layout; delete it and run again to download afresh"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    host = urlparse(src.remotes[0].url).netloc
    print(f"{name}: downloading {src.size or 'the data'} from {host} into {target}", file=sys.stderr, flush=True)
    with _quiet_pooch(), tempfile.TemporaryDirectory(prefix=f".{src.folders[0]}-partial-", dir=target.parent) as tmp:
        tmp = Path(tmp)
        unpacked = tmp / "unpacked"
        unpacked.mkdir()
        for remote in src.remotes:
            try:
                path = pooch.retrieve(url=remote.url, known_hash=remote.known_hash, fname=remote.fname,
                                      path=tmp / "downloads", progressbar=_has_tqdm())
                if remote.archive:
                    _extract(Path(path), remote.archive, unpacked, src.members)
                    Path(path).unlink()
                else:
                    shutil.move(path, unpacked / remote.fname)
            except Exception as err:  # requests ConnectionError, HTTPError, ValueError (checksum), BadZipFile, ...
                raise DataNotFoundError(
                    f"{name}: download of {remote.url} failed ({type(err).__name__}: {_first_line(err)}); nothing was "
                    f"kept; if you are offline, get it by hand ({src.how_to_get}) and set L2I_DATA"
                ) from None
        root = unpacked / src.extracted_root if src.extracted_root else unpacked
        try:
            if src.manifest:
                _check_manifest(root, src.manifest)
            if src.prepare is not None:
                root = src.prepare(root, tmp / "prepared")
        except (ValueError, OSError) as err:
            raise DataNotFoundError(
                f"{name}: the download from {host} is not the expected data ({_first_line(err)}); nothing was kept; "
                f"try again later, or get it by hand ({src.how_to_get}) and set L2I_DATA"
            ) from None
        if not src.is_root(root):
            raise DataNotFoundError(f"{name}: the download from {host} lacks the expected layout; nothing was kept")
        os.replace(root, target)
    print(f"{name}: ready in {target}", file=sys.stderr, flush=True)
    return target


@contextlib.contextmanager
def _quiet_pooch():
    """pooch's own INFO lines ("Downloading data from ...", "SHA256 hash of downloaded file") replaced by ours."""
    log = pooch.get_logger()
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _has_tqdm() -> bool:
    try:
        import tqdm  # noqa: F401
    except ImportError:  # pragma: no cover
        return False
    return True


#: Public alias: ``l2i_core.data.download('esc50')``.
download = download_dataset


#: What a run of the notebooks for each dataset reads besides itself: FSDD's spoken digits for notebook 08's
#: speech condition; urbanmix mixes its scenes from ESC-10 and ESC-50 fold 4 (or from ESC-50 when present).
_RUN_EXTRAS = {"urbanmix": ("esc10", "esc50-fold4")}


def _found(name: str) -> bool:
    try:
        find_dataset_dir(name)
    except DataNotFoundError:
        return False
    return True


def required_datasets(dataset: str) -> list[str]:
    """The registry datasets a run of every notebook on ``dataset`` reads, the dataset itself first.

    ``urbanmix`` is built from ESC clips, so it needs ``esc10`` and ``esc50-fold4`` (the clips the committed
    reports were mixed from); every run needs ``fsdd`` for notebook 08's speech-contamination condition.
    """
    names = [] if dataset == "folder" else [dataset]
    names += list(_RUN_EXTRAS.get(dataset, ())) + ["fsdd"]
    return list(dict.fromkeys(names))


def ensure_datasets(dataset: str, data_dir: str | os.PathLike | None = None, *,
                    download: bool | None = None) -> dict[str, Path | None]:
    """Check, before anything runs, that every dataset :func:`required_datasets` lists is on disk.

    A missing one with a registered source is downloaded into the user cache (:func:`download_dataset`),
    unless ``download`` is false or :func:`offline` (then one :class:`~l2i_core.DataNotFoundError` line
    says what to do). ``data_dir`` applies to ``dataset`` itself. ``urbanmix`` is found, or built by notebook
    00 from its ESC sources (``None`` in the result). ``esc50-fold4`` is cut from an ESC-50 folder when one
    is on disk (:func:`esc50_fold4_from_esc50`) rather than downloaded.

    Returns
    -------
    dict
        Dataset name → its folder (``None``: built later by the notebooks).
    """
    download = (not offline()) if download is None else bool(download)
    out: dict[str, Path | None] = {}
    for name in required_datasets(dataset):
        explicit = data_dir if name == dataset and data_dir else None
        if name == "urbanmix" and not explicit:
            out[name] = None  # found or (re)built by load_urbanmix with the run's parameters
            continue
        try:
            if name == "esc50-fold4" and not explicit and not _found(name):
                try:  # ESC-50 on disk holds the subset: cut it from there rather than download 600 MB
                    out[name] = esc50_fold4_from_esc50(find_dataset_dir("esc50"))
                    continue
                except DataNotFoundError:
                    pass
            out[name] = find_dataset_dir(name, explicit, download=download and not explicit)
        except DataNotFoundError as err:
            if not download and SOURCES.get(name) and SOURCES[name].remotes and not explicit:
                raise DataNotFoundError(f"{err}; downloads are off (--offline or L2I_OFFLINE=1)") from None
            raise
    return out
