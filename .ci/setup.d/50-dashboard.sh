#!/usr/bin/env bash
# Debian's Chromium for the dashboard's browser tests (tests/test_dashboard.py), driven by Playwright from
# the test extra with executable_path=/usr/bin/chromium; Playwright's own browser download is never used.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
    apt_install chromium
fi
