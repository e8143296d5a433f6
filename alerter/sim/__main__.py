"""``python -m alerter.sim serve|history``: the simulator without the rest of the engine."""

from alerter.sim.cli import main

raise SystemExit(main())
