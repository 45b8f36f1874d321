"""Moved to `unified.types` (issue #15); this name stays importable for code written before the move."""

from unified.types import *  # noqa: F403
