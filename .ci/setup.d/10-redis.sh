#!/usr/bin/env bash
# redis-server for the shared-limit tests (Debian's package), unless one is already on PATH.
set -euo pipefail
command -v redis-server >/dev/null 2>&1 || apt_install redis-server
