"""Reading metadata CSVs with one clear error for an unreadable file or a missing column."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from l2i_core._errors import ParameterError


def read_csv_checked(csv_path: str | Path, required: Sequence[str], schema: str) -> pd.DataFrame:
    """``pd.read_csv`` that raises one-line :class:`ParameterError` s naming the file.

    Parameters
    ----------
    required : sequence of str
        Columns that must be present.
    schema : str
        What a valid file has, for the message ("the ESC-50 columns ...").
    """
    csv_path = Path(csv_path)
    try:
        df = pd.read_csv(csv_path)
    except Exception as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ParameterError(f"{csv_path}: cannot parse CSV ({reason}); restore the original file") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ParameterError(f"{csv_path}: missing column(s) {missing}; expected {schema}")
    return df
