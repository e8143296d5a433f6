"""``python -m alerter.demo``."""

import sys

from alerter.demo.run import main

sys.exit(main())
