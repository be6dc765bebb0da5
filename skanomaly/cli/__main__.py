"""``python -m skanomaly.cli``: the ``skanomaly`` console command (as ``python -m skanomaly``)."""

import sys

from ._parser import main

if __name__ == "__main__":  # not when imported, e.g. by pytest --doctest-modules
    sys.exit(main())
