"""Evaluation: from a rule group's tick to alerts.

``scheduler`` runs each group on its interval (the only place that reads the clock), ``engine``
fetches the group's series and hands each rule to ``evaluate``, which judges every series against
its baseline (fitted and cached by ``baselines``) and steps the alert lifecycle
(``alerter.core.alerts``). ``metrics`` holds the engine's own Prometheus metrics.
"""
