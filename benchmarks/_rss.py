"""Peak resident memory of a process as Linux records it: ``VmHWM`` of ``/proc/<pid>/status``.

Not ``getrusage``'s ``ru_maxrss``: Linux carries it over ``execve``, so a spawned process would start
with its parent's peak; and ``VmHWM`` can be read for another process (a papermill kernel).
"""

from __future__ import annotations

from pathlib import Path


def vm_hwm_kb(pid: int | str = "self") -> int | None:
    """The peak resident set size of process ``pid`` in KiB, or None when it cannot be read (gone, no /proc)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None
