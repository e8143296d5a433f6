"""Slack: the Web API client (``client``), the Block Kit message (``blocks``), escaping and cutting
its mrkdwn text to Slack's limits (``mrkdwn``), the chart PNG (``chart``) and the signed
interactivity callbacks (``interactivity``).
"""
