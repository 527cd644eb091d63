"""Where datasets live on disk, and checksummed downloads with pooch.

A dataset's folder is looked for, in this order:

1. the explicit ``data_dir`` argument (the dataset folder itself, or a folder holding it);
2. ``$L2I_DATA/<folder>`` for each of the dataset's usual folder names;
3. the user cache, ``$L2I_CACHE`` or ``pooch.os_cache("l2i")``, same folder names.

Nothing is downloaded unless asked: ``download=True`` here, ``l2i download <dataset>``, or ``l2i reproduce``
(and so ``make reproduce``), which checks every dataset its notebooks read before the first one starts
(:func:`ensure_datasets`) and downloads what is missing. Every download first states its total size and
file count and what is already in the cache; one of more than 1 GB (:data:`CONFIRM_ABOVE_BYTES`: SONYC-UST)
asks ``[y/N]`` on a terminal and elsewhere needs ``--yes`` or ``L2I_YES=1``. Every file is checksummed
(md5/sha256) and reaches its own name only once verified (:func:`download_dataset`); a failure keeps the
verified files and the partial one, and a rerun resumes (HTTP Range) where it stopped.
``L2I_OFFLINE=1`` (``l2i reproduce --offline``) turns downloads off. Offline, or when the data is simply
not there, one :class:`~l2i_core.DataNotFoundError` line says where l2i looked and how to get the data.

========================  ===================================================  =====================
dataset                   source                                               download
========================  ===================================================  =====================
``esc10``                 github.com/karolpiczak/ESC-10 at a pinned commit      41 MB, every clip's
                                                                               sha256 checked
``esc50``                 github.com/karolpiczak/ESC-50, master archive        600 MB, md5
``esc50-fold4``           the same archive; only its 414 clips are kept         600 MB, md5
``fsdd``                  Jakobovski/free-spoken-digit-dataset v1.0.9           12 MB, sha256
``sonyc``                 Zenodo record 3966543                                 13.3 GB (21 files), md5
                                                                               per file
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

__all__ = ["Remote", "DatasetSource", "SOURCES", "cache_dir", "find_dataset_dir", "download", "download_plan",
           "DownloadPlan", "DownloadNotConfirmed", "CONFIRM_ABOVE_BYTES", "assume_yes", "offline",
           "required_datasets", "ensure_datasets", "esc50_fold4_from_esc50"]


@dataclass(frozen=True)
class Remote:
    """One file to download: URL, pooch ``known_hash`` (``'md5:...'`` or ``'sha256:...'``), archive type."""

    url: str
    known_hash: str | None  # None only when the source has a manifest that checks every file instead
    fname: str
    archive: str | None = None  # 'zip', 'tar' or None
    #: the file's size in bytes as published (what the download prompt adds up); ``None``: unknown
    nbytes: int | None = None
    #: ``False`` when ``nbytes`` is an estimate, not the host's published byte count (the prompt then says "about")
    nbytes_exact: bool = False


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
    #: the dataset's licence, as its publisher states it (``l2i download --list``, the README, the reports' index)
    licence: str = ""


def _esc_layout(p: Path) -> bool:
    return (p / "audio").is_dir() and any((p / "meta").glob("*.csv"))


def _esc10_layout(p: Path) -> bool:
    return (p / "audio").is_dir() and ((p / "meta" / "esc10.csv").exists() or (p / "meta" / "esc50.csv").exists())


def _fsdd_layout(p: Path) -> bool:
    return (p / "recordings").is_dir()


def _sonyc_layout(p: Path) -> bool:
    return (p / "annotations.csv").is_file()


# SONYC-UST v2 on Zenodo (record 3966543): file name and md5 as published there, and its size in bytes.
# The sizes are APPROXIMATE: this machine cannot reach Zenodo to read them. audio-0.tar.gz, annotations.csv
# and dcase-ust-taxonomy.yaml carry the byte counts a third party read from Zenodo's API (unverified here);
# audio-1..17 hold 1 000 clips each like audio-0 and are estimated at 720 MB, audio-18 holds 510 clips
# (about 367 MB); the total, about 13.3 GB, matches the record's listed total. The md5 checks the bytes, not
# these numbers: they only tell the user how much is about to be fetched (the prompt says "about").
_SONYC_ZENODO = "https://zenodo.org/record/3966543/files/{}?download=1"
_SONYC_FILES = (  # (file name, md5, approximate bytes)
    ("audio-0.tar.gz", "bbb4dbae7d2e58e18d24878b9ee1eb51", 721_618_074),
    ("audio-1.tar.gz", "7c369ff37ac6a1fdd8493fdffe62e0a1", 720_000_000),
    ("audio-2.tar.gz", "412241c063d7f196953d3dd1c44aeb5e", 720_000_000),
    ("audio-3.tar.gz", "d2a872392d95993a2c238d305b940812", 720_000_000),
    ("audio-4.tar.gz", "b15b0e0cb3f8584259ef0d24293a9be3", 720_000_000),
    ("audio-5.tar.gz", "de745f887067433757a2f2c8f99f99bb", 720_000_000),
    ("audio-6.tar.gz", "b0286c67468369d66336f6f5ddede31f", 720_000_000),
    ("audio-7.tar.gz", "ff300183ab7a9d3f2f74c3b730ffeb52", 720_000_000),
    ("audio-8.tar.gz", "7be76b821fa6dbe20f6b50ca440e1024", 720_000_000),
    ("audio-9.tar.gz", "959f7edfbb26eadad9865069f38aa9dd", 720_000_000),
    ("audio-10.tar.gz", "84e94de273666c537a3e6b709ee88d9b", 720_000_000),
    ("audio-11.tar.gz", "44fe1f43121a7d1178aa0cdf7477793b", 720_000_000),
    ("audio-12.tar.gz", "a7eb21011f460b5ac289f8e285e875ab", 720_000_000),
    ("audio-13.tar.gz", "27945a8b1008eec787f97213164951e6", 720_000_000),
    ("audio-14.tar.gz", "fb8c7d81c3bde3a0c86c1e55e6a85a24", 720_000_000),
    ("audio-15.tar.gz", "f6af9b65d876ef96d199b9e5f0473cb9", 720_000_000),
    ("audio-16.tar.gz", "e8337c61a90c30989d500f950fbe443a", 720_000_000),
    ("audio-17.tar.gz", "3e47e85eb4564a30fe7f442ee97ec7b9", 720_000_000),
    ("audio-18.tar.gz", "c6b2ef4d0d5b7269d465c469cdbbdc4b", 367_000_000),
    ("annotations.csv", "70b507b15bb4cfcce4870925302f276b", 14_488_305),
    ("dcase-ust-taxonomy.yaml", "6c1cca1c4c383a6ebb0cb71cb74fe3a9", 1_081),
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


_SONYC_BYTES = sum(n for _, _, n in _SONYC_FILES)

# Checksums as published by the hosts: ESC-50's GitHub archive (md5, as in soundata and HEAR; a
# branch archive can be regenerated, so a mismatch is reported as such), FSDD v1.0.9 (sha256, as in
# TensorFlow Datasets), SONYC-UST v2 (md5, Zenodo).
SOURCES: dict[str, DatasetSource] = {
    "esc50": DatasetSource(
        name="esc50",
        licence="CC BY-NC 3.0 (K. J. Piczak; non-commercial use only)",
        folders=("esc50", "ESC-50", "ESC-50-master", "esc50/ESC-50-master"),
        is_root=_esc_layout,
        remotes=(
            Remote(
                url=_ESC50_URL,
                known_hash="md5:7771e4b9d86d0945acce719c7a59305a",
                fname="ESC-50-master.zip",
                archive="zip",
                nbytes=600_000_000,  # approximate
            ),
        ),
        size="about 600 MB",
        extracted_root="ESC-50-master",
        how_to_get="l2i_core.data.download('esc50')",
    ),
    "esc10": DatasetSource(
        name="esc10",
        licence="CC BY 3.0 (K. J. Piczak)",
        # ESC-10 is the esc10==True subset of ESC-50: a full ESC-50 folder serves as well.
        folders=("esc10", "ESC-10", "esc50", "ESC-50", "ESC-50-master", "esc50/ESC-50-master"),
        is_root=_esc10_layout,
        # GitHub's archive of the last commit with the audio; every clip is checked against its sha256
        # (the archive bytes themselves are not promised stable, see _manifests.py).
        remotes=(Remote(url=_ESC10_URL.format(_ESC10_COMMIT), known_hash=None,
                        fname=f"ESC-10-{_ESC10_COMMIT}.tar.gz", archive="tar", nbytes=41_000_000),),
        size="a 41 MB archive (400 clips)",
        extracted_root=f"ESC-10-{_ESC10_COMMIT}",
        manifest=ESC10_FILES,
        prepare=_prepare_esc10,
        how_to_get="l2i_core.data.download('esc10'), or clone github.com/karolpiczak/ESC-10 at "
                   f"{_ESC10_COMMIT[:7]} and convert it",
    ),
    "esc50-fold4": DatasetSource(
        name="esc50-fold4",
        licence="CC BY-NC 3.0 (K. J. Piczak; non-commercial use only)",
        folders=("esc50_fold4", "esc50-fold4"),
        is_root=_esc_layout,
        # The ESC-50 archive (its md5 checked), of which only the 414 clips of the subset are unpacked and kept.
        remotes=(Remote(url=_ESC50_URL, known_hash="md5:7771e4b9d86d0945acce719c7a59305a",
                        fname="ESC-50-master.zip", archive="zip", nbytes=600_000_000),),
        size="the 600 MB ESC-50 archive, of which 414 clips (about 90 MB) are kept",
        extracted_root="ESC-50-master",
        members=_esc50_fold4_member,
        prepare=_prepare_esc50_fold4,
        how_to_get="l2i_core.data.download('esc50-fold4'), or copy ESC-50's fold-4 clips into <L2I_DATA>/esc50_fold4",
    ),
    "fsdd": DatasetSource(
        name="fsdd",
        licence="CC BY-SA 4.0 (Jakobovski et al.)",
        folders=("fsdd", "free-spoken-digit-dataset"),
        is_root=_fsdd_layout,
        remotes=(
            Remote(
                url="https://github.com/Jakobovski/free-spoken-digit-dataset/archive/v1.0.9.tar.gz",
                known_hash="sha256:8bc44cde129d505cbbb6b365c09f80c663f2aa77578afc634e6141a2f87100c0",
                fname="free-spoken-digit-dataset-1.0.9.tar.gz",
                archive="tar",
                nbytes=12_000_000,  # approximate
            ),
        ),
        size="about 12 MB",
        extracted_root="free-spoken-digit-dataset-1.0.9",
        how_to_get="l2i_core.data.download('fsdd')",
    ),
    "sonyc": DatasetSource(
        name="sonyc",
        licence="CC BY 4.0 (Cartwright et al., SONYC-UST v2)",
        folders=("sonyc", "sonyc_ust", "sonyc-ust", "SONYC-UST"),
        is_root=_sonyc_layout,
        remotes=tuple(
            Remote(url=_SONYC_ZENODO.format(name), known_hash=f"md5:{md5}", fname=name,
                   archive="tar" if name.endswith(".tar.gz") else None, nbytes=nbytes)
            for name, md5, nbytes in _SONYC_FILES
        ),
        size=f"about {_SONYC_BYTES / 1e9:.1f} GB in {len(_SONYC_FILES)} files",
        how_to_get="l2i_core.data.download('sonyc'), or build a small stand-in with dataset='urbanmix'",
    ),
    "urbanmix": DatasetSource(
        name="urbanmix",
        licence="built from ESC-10 (CC BY 3.0) and ESC-50 (CC BY-NC 3.0) clips: theirs",
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


def find_dataset_dir(name: str, data_dir: str | os.PathLike | None = None, *, download: bool = False,
                     yes: bool | None = None) -> Path:
    """Return the folder that holds dataset ``name``.

    Parameters
    ----------
    name : str
        Registry name: ``'esc10'``, ``'esc50'``, ``'esc50-fold4'``, ``'fsdd'``, ``'sonyc'``, ``'urbanmix'``.
    data_dir : path or None
        Explicit location (tried first). When given and not valid, the search stops there:
        an explicit path that is wrong is an error, not something to silently replace.
    download : bool
        Download into the user cache if not found (only datasets with a registered remote), with
        :func:`download_dataset`: it states the size first, and a large download (SONYC-UST) needs ``yes``.
    yes : bool, optional
        Agree in advance to a large download (default: ``$L2I_YES``, see :func:`assume_yes`).

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
        return download_dataset(name, yes=yes)
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


#: A download that would fetch more than this many bytes asks first (``[y/N]`` on a terminal; elsewhere it
#: needs ``yes=True``, ``--yes`` or ``L2I_YES=1``); smaller ones (ESC-10, FSDD, ESC-50) just start.
CONFIRM_ABOVE_BYTES = 1_000_000_000


class DownloadNotConfirmed(DataNotFoundError):
    """A large download was not agreed to (no ``--yes``/``L2I_YES=1`` and no terminal to ask, or the answer was no)."""


def assume_yes() -> bool:
    """Whether large downloads are agreed to in advance: ``$L2I_YES`` set to ``1``/``true``/``yes``
    (what ``l2i download --yes`` and ``l2i reproduce --yes`` mean)."""
    return os.environ.get("L2I_YES", "").strip().lower() in ("1", "true", "yes", "on")


def _interactive() -> bool:
    """Whether a ``[y/N]`` question can be asked: stdin is a terminal."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _human(nbytes: float) -> str:
    """Decimal units, as hosts list sizes: ``'13.3 GB'``, ``'722 MB'``, ``'41 MB'``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            value = nbytes / scale
            return f"{value:.1f} {unit}" if value < 100 and unit == "GB" else f"{value:.0f} {unit}"
    return f"{int(nbytes)} B"


def _staging(src: DatasetSource) -> Path:
    """Where a download of ``src`` is assembled and kept between runs: ``<cache>/.<folder>-partial/``.

    ``downloads/<file>.part`` is a file being fetched (resumed with an HTTP Range request),
    ``downloads/<file>`` one fetched and verified, ``downloads/<file>.done`` the mark that it was verified
    and unpacked (or moved) into ``unpacked/`` (the archive itself is then deleted).
    """
    return cache_dir() / f".{src.folders[0]}-partial"


@dataclass(frozen=True)
class DownloadPlan:
    """What a download of one dataset would fetch, given what an earlier, interrupted run left in the cache."""

    name: str
    files: int  # files registered
    nbytes: int | None  # their total size (None: a size is not registered)
    exact: bool  # every size is the host's published byte count
    done: int  # files already fetched, verified and unpacked
    done_bytes: int
    partial_bytes: int  # bytes of interrupted files (``.part``), resumed rather than fetched again
    todo: int  # files still to fetch
    todo_bytes: int | None  # bytes still to fetch (None: unknown)

    def _amount(self, nbytes: int | None, files: int) -> str:
        size = f"{'' if self.exact else 'about '}{_human(nbytes)}" if nbytes is not None else "an unknown size"
        return f"{size} ({files} file{'s' if files != 1 else ''})"

    def already(self) -> str:
        """What an interrupted earlier run left (``''`` when nothing): ``'2 of 21 files (about 736 MB) and
        12 MB of an interrupted one already here'``."""
        if not (self.done or self.partial_bytes):
            return ""
        text = f"{self.done} of {self.files} files ({'' if self.exact else 'about '}{_human(self.done_bytes)})"
        if self.partial_bytes:
            text += f" and {_human(self.partial_bytes)} of an interrupted one"
        return text + " already here"

    def left(self) -> str:
        """What is still to fetch: ``'about 12.6 GB (19 files)'``."""
        return self._amount(self.todo_bytes, self.todo)

    def describe(self) -> str:
        """``'about 13.3 GB (21 files)'`` or, resuming, with what is already here and what is left."""
        text = self._amount(self.nbytes, self.files)
        if self.already():
            text += f"; {self.already()}; left to fetch: {self.left()}"
        return text


def download_plan(name: str) -> DownloadPlan:
    """How much a download of ``name`` fetches: total size and file count from the sizes recorded next to
    each file in the registry, less what is already in the cache from an interrupted run."""
    src = _source(name)
    down = _staging(src) / "downloads"
    sizes = [r.nbytes for r in src.remotes]
    known = None not in sizes
    done = [r for r in src.remotes if (down / f"{r.fname}.done").is_file() or (down / r.fname).is_file()]
    partial = sum((down / f"{r.fname}.part").stat().st_size for r in src.remotes
                  if r not in done and (down / f"{r.fname}.part").is_file())
    done_bytes = sum(r.nbytes or 0 for r in done)
    total = sum(sizes) if known else None  # type: ignore[arg-type]
    return DownloadPlan(name=name, files=len(src.remotes), nbytes=total,
                        exact=known and all(r.nbytes_exact for r in src.remotes),
                        done=len(done), done_bytes=done_bytes, partial_bytes=partial,
                        todo=len(src.remotes) - len(done),
                        todo_bytes=None if total is None else max(0, total - done_bytes - partial))


def _confirm(src: DatasetSource, plan: DownloadPlan, host: str, target: Path, yes: bool | None) -> None:
    """Ask before a large download (more than :data:`CONFIRM_ABOVE_BYTES` left to fetch); raise
    :class:`DownloadNotConfirmed` when it is not agreed to. ``yes=None``: :func:`assume_yes`."""
    left = plan.todo_bytes if plan.todo_bytes is not None else CONFIRM_ABOVE_BYTES + 1  # unknown: ask
    if left <= CONFIRM_ABOVE_BYTES or (assume_yes() if yes is None else yes):
        return
    where = f"from {host} into {target}"
    if plan.already():  # resuming: the total and what is here too
        where += f" (of {plan._amount(plan.nbytes, plan.files)}; {plan.already()})"
    if not _interactive():
        raise DownloadNotConfirmed(
            f"{src.name}: {plan.left()} to download {where}; not a terminal, so not asking: "
            f"pass --yes (l2i download {src.name} --yes) or set L2I_YES=1 to agree"
        )
    print(f"{src.name}: download {plan.left()} {where}? [y/N] ", end="", file=sys.stderr, flush=True)
    try:
        answer = input()
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise DownloadNotConfirmed(f"{src.name}: download declined, nothing was fetched; "
                                   f"run `l2i download {src.name} --yes` when you want it")


class _ResumingDownloader:
    """A pooch downloader that fetches into ``<file>.part`` and resumes it with an HTTP Range request.

    The ``.part`` file survives a failure (connection lost, host down, Ctrl-C); the next call asks for the
    bytes after it (``Range: bytes=N-``), and starts that one file again when the server answers with the
    whole file (no range support) or a range that does not start at N. Once complete, the ``.part`` file is
    renamed to pooch's temporary name, which pooch checksums and then renames to the final name: a file
    under its own name is always complete and verified.
    """

    chunk_size = 1 << 18  # bytes per write: at most this much of a dropped connection's last read is lost

    def __init__(self, part: Path, progressbar: bool = False, timeout: float = 30.0):
        self.part = part
        self.progressbar = progressbar
        self.timeout = timeout

    def __call__(self, url: str, output_file, pooch_obj=None, check_only: bool = False):
        import requests

        if check_only:
            r = requests.head(url, allow_redirects=True, timeout=self.timeout)
            return bool(r.ok)
        self.part.parent.mkdir(parents=True, exist_ok=True)
        have = self.part.stat().st_size if self.part.is_file() else 0
        headers = {"Accept-Encoding": "identity"}  # the bytes as published: counted, resumed and checksummed
        if have:
            headers["Range"] = f"bytes={have}-"
        with requests.get(url, headers=headers, stream=True, timeout=self.timeout) as r:
            if have and r.status_code == 416:  # nothing after `have` bytes: start this file again
                self.part.unlink()
                return self(url, output_file, pooch_obj)
            r.raise_for_status()
            resumed = bool(have) and r.status_code == 206 and \
                r.headers.get("Content-Range", "").startswith(f"bytes {have}-")
            if not resumed:
                have = 0
            length = r.headers.get("Content-Length")
            total = have + int(length) if length and length.isdigit() else None
            bar = None
            if self.progressbar:
                from tqdm.auto import tqdm

                bar = tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=self.part.name[:-5],
                           file=sys.stderr, leave=True, ncols=79)
            try:
                with open(self.part, "ab" if resumed else "wb") as f:
                    for chunk in r.iter_content(chunk_size=self.chunk_size):
                        f.write(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
        if total is not None and self.part.stat().st_size != total:
            raise requests.exceptions.ChunkedEncodingError(
                f"connection ended after {self.part.stat().st_size} of {total} bytes")
        if isinstance(output_file, (str, os.PathLike)):
            os.replace(self.part, output_file)
        else:  # a file object
            with open(self.part, "rb") as f:
                shutil.copyfileobj(f, output_file)
            self.part.unlink()


def _transport_error(err: BaseException) -> bool:
    """A failure of the connection (worth a rerun that resumes), not of the content (a checksum, an archive)."""
    import requests

    return isinstance(err, (requests.exceptions.RequestException, ConnectionError, TimeoutError))


def _has_progress(staging: Path) -> bool:
    """Whether ``staging`` holds anything a rerun would reuse: a verified file, a mark, a partial file."""
    down = staging / "downloads"
    return down.is_dir() and any(f.name != ".lock" and f.is_file() and f.stat().st_size > 0 or f.suffix == ".done"
                                 for f in down.iterdir() if not f.name.startswith("tmp"))


@contextlib.contextmanager
def _locked(staging: Path, name: str):
    """Hold an exclusive lock on ``staging`` (``fcntl``; none where it is missing): a second process that
    downloads the same dataset waits for the first, then finds its result."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        staging.mkdir(parents=True, exist_ok=True)
        yield
        return
    while True:
        staging.mkdir(parents=True, exist_ok=True)
        lock = staging / ".lock"
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(f"{name}: waiting for another l2i process that is downloading it into {staging}",
                      file=sys.stderr, flush=True)
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                current = os.path.samestat(os.fstat(fd), os.stat(lock))
            except FileNotFoundError:  # the holder finished and removed the folder: take a fresh lock
                current = False
            if current:
                yield
                return
        finally:
            os.close(fd)


def _fetch_one(src: DatasetSource, remote: Remote, staging: Path, unpacked: Path) -> None:
    """Fetch, verify and unpack one file, unless its ``.done`` mark says an earlier run did."""
    down = staging / "downloads"
    mark = down / f"{remote.fname}.done"
    if mark.is_file():
        return
    path = Path(pooch.retrieve(url=remote.url, known_hash=remote.known_hash, fname=remote.fname, path=down,
                               downloader=_ResumingDownloader(down / f"{remote.fname}.part", _has_tqdm()),
                               progressbar=_has_tqdm()))
    try:
        if remote.archive:
            _extract(path, remote.archive, unpacked, src.members)
        else:
            shutil.move(path, unpacked / remote.fname)
    except Exception:
        path.unlink(missing_ok=True)  # a verified file that does not unpack: fetch it afresh next time
        raise
    tmp = mark.with_suffix(".done-tmp")
    tmp.write_text(f"{remote.known_hash or 'unpacked'}\n")
    os.replace(tmp, mark)
    path.unlink(missing_ok=True)  # unpacked: the archive itself is not kept


def download_dataset(name: str, *, yes: bool | None = None) -> Path:
    """Download, check and unpack dataset ``name`` into the user cache (:func:`cache_dir`).

    First one line states what is fetched: the total size and file count (from the sizes recorded next to
    each file in the registry; "about" when they are estimates), and what an interrupted earlier run already
    left in the cache. When more than :data:`CONFIRM_ABOVE_BYTES` (1 GB) is left to fetch (SONYC-UST), the
    download needs agreement: ``yes=True`` (``l2i download --yes``, ``l2i reproduce --yes``) or ``L2I_YES=1``;
    without them a ``[y/N]`` question on a terminal, elsewhere a one-line
    :class:`DownloadNotConfirmed` error that says to pass ``--yes``. Smaller datasets just start.

    Then, for each registered :class:`Remote`, in ``<cache>/.<folder>-partial/`` (:func:`_staging`): the file
    is fetched into ``downloads/<file>.part`` (with a progress bar), resumed with an HTTP Range request when an
    earlier run was interrupted (started again when the server does not support ranges), renamed to a
    temporary name that pooch checksums against the registered md5/sha256 (``known_hash``) and only then to
    its own name (atomic per file); it is unpacked into ``unpacked/`` (only the members ``src.members``
    accepts), marked ``downloads/<file>.done`` and the archive deleted. When every file is there the unpacked
    files are checked against the source's manifest when it has one (ESC-10: every clip's sha256), the
    source's ``prepare`` step turns them into l2i's layout (ESC-10: the ESC-50 layout and CSV), and only then
    is the result moved into ``<cache>/<folder>`` in one rename and the staging folder removed.

    A failure keeps what was fetched: verified files (their ``.done`` marks) and a partial ``.part`` stay,
    so a rerun (``l2i download <name>``) skips the one and resumes the other. A file that fails its checksum
    or does not unpack is deleted (the message has both hashes). When the unpacked data fails the manifest or
    the layout, everything is deleted: nothing half-downloaded is ever taken for the dataset. A process that
    finds another downloading the same dataset waits for it. Nothing is downloaded when :func:`offline`.

    Parameters
    ----------
    name : str
        A registry name with a download: ``'esc10'``, ``'esc50'``, ``'esc50-fold4'``, ``'fsdd'``, ``'sonyc'``.
    yes : bool, optional
        Agree in advance to a large download. Default: :func:`assume_yes` (``$L2I_YES``).

    Raises
    ------
    DownloadNotConfirmed
        A large download not agreed to (a :class:`~l2i_core.DataNotFoundError`); nothing was fetched.
    DataNotFoundError
        Offline, or when a file fails (no network, host down, checksum mismatch, corrupt archive): one line
        naming the file, what was kept and how to resume (rerun) or get the data by hand.
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
    if target.exists() and not src.is_root(target):
        raise DataNotFoundError(
            f"{name}: {target} exists but does not hold the {name} layout; delete it and run again to download afresh"
        )
    if src.is_root(target):
        return target
    host = urlparse(src.remotes[0].url).netloc
    plan = download_plan(name)
    _confirm(src, plan, host, target, yes)
    staging = _staging(src)
    with _locked(staging, name):
        if src.is_root(target):  # another process finished it while this one waited
            if not _has_progress(staging):
                shutil.rmtree(staging, ignore_errors=True)
            return target
        plan = download_plan(name)
        print(f"{name}: downloading {src.size or 'the data'} from {host} into {target} ({plan.describe()})",
              file=sys.stderr, flush=True)
        unpacked = staging / "unpacked"
        unpacked.mkdir(parents=True, exist_ok=True)
        with _quiet_pooch():
            for remote in src.remotes:
                try:
                    _fetch_one(src, remote, staging, unpacked)
                except Exception as err:  # requests errors, ValueError (checksum), BadZipFile, tarfile errors, ...
                    raise _failure(src, remote, staging, err) from None
        root = unpacked / src.extracted_root if src.extracted_root else unpacked
        try:
            prepared = staging / "prepared"
            if prepared.exists():
                shutil.rmtree(prepared)
            if src.manifest:
                _check_manifest(root, src.manifest)
            if src.prepare is not None:
                root = src.prepare(root, prepared)
            if not src.is_root(root):
                raise ValueError("it lacks the expected layout")
        except (ValueError, OSError) as err:
            shutil.rmtree(staging, ignore_errors=True)
            raise DataNotFoundError(
                f"{name}: the download from {host} is not the expected data ({_first_line(err)}); nothing was kept; "
                f"try again later, or get it by hand ({src.how_to_get}) and set L2I_DATA"
            ) from None
        os.replace(root, target)
        shutil.rmtree(staging, ignore_errors=True)
    print(f"{name}: ready in {target}", file=sys.stderr, flush=True)
    return target


def _failure(src: DatasetSource, remote: Remote, staging: Path, err: BaseException) -> DataNotFoundError:
    """The one-line error for a file that failed; drops the staging folder when it holds nothing to reuse."""
    name = src.name
    transport = _transport_error(err)
    kept = _has_progress(staging)
    if not kept:
        shutil.rmtree(staging, ignore_errors=True)
    done = len([r for r in src.remotes if (staging / "downloads" / f"{r.fname}.done").is_file()])
    part = staging / "downloads" / f"{remote.fname}.part"
    what = []
    if done:
        what.append(f"the {done} file{'s' if done != 1 else ''} fetched and verified before it")
    if part.is_file() and part.stat().st_size:
        what.append(f"{_human(part.stat().st_size)} of {remote.fname}")
    kept_text = f"kept in {staging}: {' and '.join(what)}" if what else "nothing was kept"
    how = f"get it by hand ({src.how_to_get}) and set L2I_DATA"
    if transport:
        return DataNotFoundError(
            f"{name}: download of {remote.fname} failed ({type(err).__name__}: {_first_line(err)}); {kept_text}; "
            f"rerun `l2i download {name}` to resume, or if you are offline, {how}"
        )
    return DataNotFoundError(
        f"{name}: {remote.fname} failed its check ({type(err).__name__}: {_first_line(err)}); the bad file was "
        f"deleted; {kept_text}; rerun `l2i download {name}` to fetch it again, or {how}"
    )


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
                    download: bool | None = None, yes: bool | None = None) -> dict[str, Path | None]:
    """Check, before anything runs, that every dataset :func:`required_datasets` lists is on disk.

    A missing one with a registered source is downloaded into the user cache (:func:`download_dataset`),
    unless ``download`` is false or :func:`offline` (then one :class:`~l2i_core.DataNotFoundError` line
    says what to do). ``data_dir`` applies to ``dataset`` itself. ``urbanmix`` is found, or built by notebook
    00 from its ESC sources (``None`` in the result). ``esc50-fold4`` is cut from an ESC-50 folder when one
    is on disk (:func:`esc50_fold4_from_esc50`) rather than downloaded. A download states its size first; one
    of more than 1 GB (SONYC-UST) needs ``yes`` (default ``$L2I_YES``; ``l2i reproduce --yes`` sets it) or a
    ``[y/N]`` answer on a terminal, else it stops with one line that says to pass ``--yes``.

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
            out[name] = find_dataset_dir(name, explicit, download=download and not explicit, yes=yes)
        except DataNotFoundError as err:
            if not download and SOURCES.get(name) and SOURCES[name].remotes and not explicit:
                raise DataNotFoundError(f"{err}; downloads are off (--offline or L2I_OFFLINE=1)") from None
            raise
    return out
