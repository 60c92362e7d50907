"""``python -m pco_wire``: see ``pco_wire.cli``."""

import sys

from .cli import main

sys.exit(main())
