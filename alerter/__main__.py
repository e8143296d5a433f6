"""``python -m alerter``: the same as the ``alerter`` command."""

import sys

from alerter.cli import main

sys.exit(main())
