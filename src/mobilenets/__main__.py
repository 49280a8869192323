"""``python -m mobilenets``: the same as the ``mobilenets`` command."""

import sys

from mobilenets.cli import main

sys.exit(main())
