"""Whether the user's ini sets a value, and a value for pytest to answer when it does not.

pytest keeps no public answer to "did the ini set this?" (``getini`` returns the default
either way), so both reach into the config; kept here, in one place, for one pytest upgrade
to find.
"""

from __future__ import annotations

from typing import Any

import pytest


def ini_is_set(config: pytest.Config, name: str) -> bool:
    """Whether the ini file (or ``-o name=value``) sets ``name``."""
    raw: Any = getattr(config, "_inicfg", None)
    if raw is None:  # pytest before 9 kept a plain mapping here
        raw = getattr(config, "inicfg", {})
    return name in raw


def set_ini_default(config: pytest.Config, name: str, value: object) -> None:
    """Make ``getini(name)`` answer ``value``: getini caches, and every reader (junitxml
    included) goes through it; call before the first reader does."""
    config._inicache[name] = value
