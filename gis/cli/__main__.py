"""``python -m gis.cli``: the ``gis`` command."""

import sys

from gis.cli import main

sys.exit(main())
