"""Moved to `unified.errors` (issue #15); this name stays importable for code written before the move."""

from unified.errors import *  # noqa: F403
