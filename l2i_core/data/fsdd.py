"""Free Spoken Digit Dataset (FSDD): spoken digits 0-9, 8 kHz, 6 speakers x 50 takes per digit.

Layout: ``<root>/recordings/{digit}_{speaker}_{index}.wav``. The official split puts takes with
``index`` 0-4 in the test set. FSDD has no validation split; l2i uses ``index`` 5-9 for validation
and 10-49 for training, so that model selection never looks at the test takes.
"""

from __future__ import annotations

import re
from pathlib import Path

from l2i_core._errors import DataNotFoundError
from l2i_core.data.records import AudioDataset, Record

__all__ = ["load_fsdd", "FSDD_LICENCE"]

FSDD_LICENCE = "Free Spoken Digit Dataset by Z. Jackson and contributors, CC BY-SA 4.0."
_NAME = re.compile(r"^(\d)_([A-Za-z0-9-]+)_(\d+)$")


def load_fsdd(root: str | Path, *, duration: float = 1.0) -> AudioDataset:
    """Load FSDD from ``root`` (the folder holding ``recordings/``).

    Parameters
    ----------
    root : path
    duration : float
        Clip length in seconds (99 % of the takes are shorter than 1 s).
    """
    root = Path(root)
    rec_dir = root / "recordings" if (root / "recordings").is_dir() else root
    files = sorted(rec_dir.glob("*.wav"))
    records = []
    for f in files:
        m = _NAME.match(f.stem)
        if m is None:
            continue
        digit, speaker, index = m.group(1), m.group(2), int(m.group(3))
        split = "test" if index <= 4 else "validation" if index <= 9 else "train"
        records.append(
            Record(uid=f.stem, labels=(digit,), split=split, path=f,
                   metadata={"speaker": speaker, "index": index})
        )
    if not records:
        raise DataNotFoundError(f"{rec_dir}: no FSDD recordings named <digit>_<speaker>_<index>.wav")
    classes = [str(d) for d in range(10)]
    return AudioDataset(
        "fsdd", records, classes, duration=duration, root=root,
        protocol="fsdd: official split (take index 0-4 test); index 5-9 validation, 10-49 train",
        licence=FSDD_LICENCE,
    )
