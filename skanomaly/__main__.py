"""``python -m skanomaly``: the ``skanomaly`` console command."""

import sys

from .cli import main

sys.exit(main())
