"""``python -m alerter.ruletest``: rule unit tests without the rest of the command line."""

import sys

from alerter.ruletest.run import main

sys.exit(main())
