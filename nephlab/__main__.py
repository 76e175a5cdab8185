"""``python -m nephlab``: the same command line as the ``nephlab`` script."""

import sys

from nephlab.cli import main

sys.exit(main())
