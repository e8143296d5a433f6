"""Slack: the Web API client (``client``), the Block Kit message (``blocks``), the chart PNG
(``chart``) and the signed interactivity callbacks (``interactivity``).
"""
