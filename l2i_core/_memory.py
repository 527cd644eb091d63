"""The memory budget, and arrays that live on disk and are read a few rows at a time.

SONYC-UST's training split alone is about 11.7 M spectrogram frames at the ``paper`` preset (24 GB in
float32) and its activation cache 27 GiB: nothing may hold every clip in memory. Three pieces here
keep a run inside a budget:

* :func:`memory_budget_gb`: the budget in GB, from an explicit value, else ``$L2I_MEMORY_GB``, else
  :data:`DEFAULT_MEMORY_GB` (4 GB, which leaves room on a 24 GB machine for the interpreter, the
  browser and the operating system). What stays in memory is sized from it: the activation cache, the
  log-mel features of f's training and the frames of dictionary learning each switch to disk past
  their share of it.
* :class:`NpyRowWriter`: writes a ``.npy`` array row block by row block with ordinary file writes.
* :class:`DiskRows`: reads the rows of one or several ``.npy`` files with ``os.pread``.

Why file reads and writes rather than ``np.memmap``: the pages of a memory map that a process has
touched count in its resident memory until they are unmapped, so one epoch over a memory-mapped cache
makes the process as large as the cache (the kernel can drop clean pages, but a budget the user sets
is read from resident memory). A row read with ``pread`` goes to a fresh buffer that is freed with
its batch; the kernel's page cache still makes repeated reads cheap, without counting against l2i.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from l2i_core._errors import ParameterError

__all__ = ["DEFAULT_MEMORY_GB", "memory_budget_gb", "NpyRowWriter", "DiskRows"]

#: The budget when neither a value nor ``$L2I_MEMORY_GB`` is given (GB).
DEFAULT_MEMORY_GB = 4.0


def memory_budget_gb(value=None) -> float:
    """The memory budget in GB: ``value`` when given (> 0), else ``$L2I_MEMORY_GB``, else 4.

    ``0``, ``None`` and ``""`` mean "not given". A value that is not a positive number raises one
    :class:`~l2i_core._errors.ParameterError` naming where it came from.
    """
    source = "memory_gb"
    if value in (None, "", 0, 0.0, "0"):
        value, source = os.environ.get("L2I_MEMORY_GB", ""), "$L2I_MEMORY_GB"
        if value.strip() in ("", "0"):
            return DEFAULT_MEMORY_GB
    try:
        gb = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{source}={value!r} must be a number of gigabytes (e.g. 4)") from None
    if not np.isfinite(gb) or gb <= 0:
        raise ParameterError(f"{source}={value!r} must be a positive number of gigabytes (e.g. 4)")
    if gb < 0.5:
        raise ParameterError(f"{source}={value!r} GB is below the 0.5 GB that torch and the models need; give at least 0.5")
    return gb


class NpyRowWriter:
    """A float32 ``.npy`` file of ``shape``, filled by row blocks with file writes (no memory map).

    ``writer[a:b] = rows`` writes rows ``a..b-1``; :meth:`close` (or the ``with`` block) closes the
    file. The header is written first and the file is extended to its full size, so a reader sees the
    final shape; rows never written read as zeros.
    """

    def __init__(self, path: str | Path, shape, dtype=np.float32):
        self.path = Path(path)
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        self._f = open(self.path, "wb")
        np.lib.format.write_array_header_1_0(self._f, {"descr": np.lib.format.dtype_to_descr(self.dtype),
                                                       "fortran_order": False, "shape": self.shape})
        self.offset = self._f.tell()
        self._f.truncate(self.offset + self.row_bytes * self.shape[0])

    def __setitem__(self, rows: slice, value) -> None:
        start, stop, step = rows.indices(self.shape[0])
        if step != 1:
            raise ParameterError("NpyRowWriter writes contiguous row blocks only (a slice with step 1)")
        arr = value.detach().cpu().numpy() if torch.is_tensor(value) else np.asarray(value)
        arr = np.ascontiguousarray(arr, dtype=self.dtype)
        if arr.shape != (stop - start, *self.shape[1:]):
            raise ParameterError(f"{self.path.name}: rows {start}:{stop} need shape {(stop - start, *self.shape[1:])}, "
                                 f"got {arr.shape}")
        os.pwrite(self._f.fileno(), arr.tobytes(), self.offset + start * self.row_bytes)

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _npy_layout(path: Path) -> tuple[int, tuple, np.dtype]:
    """(data offset, shape, dtype) of a C-ordered ``.npy`` file, read from its header."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(f)
        if fortran:
            raise ParameterError(f"{path}: a Fortran-ordered array cannot be read by rows")
        return f.tell(), tuple(shape), np.dtype(dtype)


class DiskRows:
    """The rows of one or several ``.npy`` files (same row shape) read as one array, on demand.

    ``rows[idx]`` (an index tensor, list, int array or slice) returns a float32 tensor of those rows,
    read with ``os.pread`` into a fresh buffer: nothing stays resident between calls. ``len``,
    ``shape``, :meth:`numel`, :meth:`element_size` and :meth:`numpy` behave like a tensor's.
    ``n_rows`` (one file only) reads just its first rows: a file sized for more rows than were written.
    """

    def __init__(self, paths, *, n_rows: int | None = None):
        paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
        if not paths:
            raise ParameterError("DiskRows needs at least one .npy file")
        layouts = [_npy_layout(p) for p in paths]
        if n_rows is not None:  # the first rows of one file sized for more (an NpyRowWriter filled in part)
            if len(paths) != 1 or not 0 <= n_rows <= layouts[0][1][0]:
                raise ParameterError(f"n_rows={n_rows} needs one .npy file of at least that many rows")
            layouts[0] = (layouts[0][0], (int(n_rows), *layouts[0][1][1:]), layouts[0][2])
        row_shape = layouts[0][1][1:]
        if any(lay[1][1:] != row_shape for lay in layouts):
            raise ParameterError(f"{paths[0].parent}: the .npy parts do not share one row shape")
        self.paths = paths
        self._offsets_in_file = [lay[0] for lay in layouts]
        self._dtype = layouts[0][2]
        self.row_bytes = int(np.prod(row_shape, dtype=np.int64)) * self._dtype.itemsize
        self.offsets = np.cumsum([0] + [lay[1][0] for lay in layouts])
        self.shape = torch.Size((int(self.offsets[-1]), *row_shape))
        self.dtype = torch.float32
        self._fds: list[int] | None = None

    def __len__(self) -> int:
        return int(self.shape[0])

    def __getstate__(self):  # picklable (DataLoader workers, spawn): descriptors are reopened
        state = self.__dict__.copy()
        state["_fds"] = None
        return state

    def _descriptors(self) -> list[int]:
        if self._fds is None:
            self._fds = [os.open(p, os.O_RDONLY) for p in self.paths]
        return self._fds

    def __del__(self):
        for fd in getattr(self, "_fds", None) or []:
            try:
                os.close(fd)
            except OSError:
                pass

    def _read_run(self, part: int, first: int, count: int) -> np.ndarray:
        n = count * self.row_bytes
        buf = bytearray(n)
        view = memoryview(buf)
        fd, pos, got = self._descriptors()[part], self._offsets_in_file[part] + first * self.row_bytes, 0
        while got < n:
            k = os.preadv(fd, [view[got:]], pos + got)
            if k <= 0:
                raise ParameterError(f"{self.paths[part]}: the file is shorter than its header says; rebuild it")
            got += k
        return np.frombuffer(buf, dtype=self._dtype).reshape(count, *self.shape[1:])

    def __getitem__(self, idx) -> torch.Tensor:
        if isinstance(idx, slice):
            idx = range(*idx.indices(len(self)))
        rows = np.atleast_1d(np.asarray(idx.cpu() if torch.is_tensor(idx) else idx, dtype=np.int64))
        if rows.size and (rows.min() < -len(self) or rows.max() >= len(self)):
            raise IndexError(f"row index out of range for {len(self)} rows")
        rows = np.where(rows < 0, rows + len(self), rows)
        out = np.empty((len(rows), *self.shape[1:]), dtype=np.float32)
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        i = 0
        while i < len(sorted_rows):  # read runs of consecutive rows of one part with one call
            part = int(np.searchsorted(self.offsets, sorted_rows[i], side="right") - 1)
            j = i + 1
            while (j < len(sorted_rows) and sorted_rows[j] == sorted_rows[j - 1] + 1
                   and sorted_rows[j] < self.offsets[part + 1]):
                j += 1
            block = self._read_run(part, int(sorted_rows[i] - self.offsets[part]), j - i)
            out[order[i:j]] = block
            i = j
        return torch.from_numpy(out)

    def numel(self) -> int:
        return int(np.prod(self.shape))

    def element_size(self) -> int:
        return 4

    def numpy(self) -> np.ndarray:
        """Every row, loaded (what a full pass that needs them together costs anyway)."""
        return self[slice(None)].numpy()
