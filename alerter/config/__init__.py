"""Configuration: models of ``alerter.yaml`` and rule files, loading with file:line errors.

Public surface: ``load`` (everything, all errors at once), the models, and ``Bundle``.
"""

from alerter.config.engine import AppConfig, Policy, Receiver, Route
from alerter.config.load import Bundle, LoadedRules, expand, load
from alerter.config.rules import Rule, RuleFile, RuleGroup
from alerter.config.types import Matcher

__all__ = [
    "AppConfig",
    "Bundle",
    "LoadedRules",
    "Matcher",
    "Policy",
    "Receiver",
    "Route",
    "Rule",
    "RuleFile",
    "RuleGroup",
    "expand",
    "load",
]
