"""The long-running process: ``app`` is the composition root that builds the engine, the
notification pipeline and the remediation runner from a config and swaps them on reload;
``server`` and ``routes`` serve HTTP (health, ``/metrics``, the JSON ``api``, silences, Slack
callbacks); ``logs`` configures logging; ``admin`` holds the state-database subcommands.
"""
