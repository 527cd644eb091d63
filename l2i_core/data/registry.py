"""Where datasets live on disk, and checksummed downloads with pooch.

A dataset's folder is looked for, in this order:

1. the explicit ``data_dir`` argument (the dataset folder itself, or a folder holding it);
2. ``$L2I_DATA/<folder>`` for each of the dataset's usual folder names;
3. the user cache, ``$L2I_CACHE`` or ``pooch.os_cache("l2i")``, same folder names.

Nothing is downloaded unless ``download=True`` is passed (no hidden downloads). Offline, or when
the data is simply not there, one :class:`~l2i_core.DataNotFoundError` line says where l2i looked
and how to get the data.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pooch

from .._errors import DataNotFoundError, ParameterError

__all__ = ["Remote", "DatasetSource", "SOURCES", "cache_dir", "find_dataset_dir", "download"]


@dataclass(frozen=True)
class Remote:
    """One file to download: URL, pooch ``known_hash`` (``'md5:...'`` or ``'sha256:...'``), archive type."""

    url: str
    known_hash: str
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
    extracted_root: str | None = None  # sub-folder of the download folder that becomes the root
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
                url="https://github.com/karoldvl/ESC-50/archive/master.zip",
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
        size="about 600 MB (it comes inside ESC-50)",
        how_to_get="l2i_core.data.download('esc50') (ESC-10 is read from it)",
    ),
    "esc50-fold4": DatasetSource(
        name="esc50-fold4",
        folders=("esc50_fold4", "esc50-fold4"),
        is_root=_esc_layout,
        how_to_get="copy ESC-50's fold-4 clips into <L2I_DATA>/esc50_fold4 or use dataset='esc50'",
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


def download_dataset(name: str) -> Path:
    """Download and unpack dataset ``name`` into the user cache, checking its checksum(s).

    Raises
    ------
    DataNotFoundError
        When the download fails (offline, host down, checksum mismatch): one line that says how to
        get the data by hand.
    """
    src = _source(name)
    if not src.remotes:
        raise DataNotFoundError(f"{name}: no download is registered; get it with {src.how_to_get}")
    target = cache_dir() / src.name
    target.mkdir(parents=True, exist_ok=True)
    for remote in src.remotes:
        processor = {
            "zip": pooch.Unzip(extract_dir=str(target)),
            "tar": pooch.Untar(extract_dir=str(target)),
            None: None,
        }[remote.archive]
        try:
            pooch.retrieve(
                url=remote.url,
                known_hash=remote.known_hash,
                fname=remote.fname,
                # archives are kept aside and unpacked into target; plain files land in target itself
                path=target / "_downloads" if remote.archive else target,
                processor=processor,
                progressbar=_has_tqdm(),
            )
        except Exception as err:  # requests ConnectionError, HTTPError, ValueError (checksum), ...
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise DataNotFoundError(
                f"{name}: download of {remote.url} failed ({type(err).__name__}: {reason}); if you are offline, "
                f"download it by hand, unpack it under a folder and set L2I_DATA to that folder"
            ) from None
    root = target / src.extracted_root if src.extracted_root else target
    if not src.is_root(root):
        raise DataNotFoundError(f"{name}: downloaded into {target} but the expected layout is not there")
    return root


def _has_tqdm() -> bool:
    try:
        import tqdm  # noqa: F401
    except ImportError:  # pragma: no cover
        return False
    return True


#: Public alias: ``l2i_core.data.download('esc50')``.
download = download_dataset
