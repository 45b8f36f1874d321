"""Moved to `unified.media` (issue #15); this name stays importable for code written before the move."""

from unified.media import *  # noqa: F403
