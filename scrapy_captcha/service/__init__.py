"""Sans-I/O side of the solving services: dialect presets, calls, parsing, error table."""

from __future__ import annotations

from .errors import reaction_for, rule_for
from .presets import PRESETS, Preset, get_preset

__all__ = ["PRESETS", "Preset", "get_preset", "reaction_for", "rule_for"]
