"""``python -m alerter.backtest``: the backtest without the rest of the command line."""

import sys

from alerter.backtest.replay import main

sys.exit(main())
