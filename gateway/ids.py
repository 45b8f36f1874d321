"""Moved to `unified.ids` (issue #15); this name stays importable for code written before the move."""

from unified.ids import *  # noqa: F403
