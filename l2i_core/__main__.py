"""``python -m l2i_core <command>``, and ``torchrun ... -m l2i_core <command>``: the one ``l2i`` command."""

import sys

from l2i_core.pipeline.cli import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
