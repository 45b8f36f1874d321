#!/usr/bin/env bash
# PostgreSQL server binaries for the database tests (Debian's package); the tests start a throwaway
# cluster themselves (tests/postgres_server.py), so the packaged service is not needed.
set -euo pipefail
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    apt_install postgresql
fi
# Debian starts a cluster on install where it can; the tests do not use it.
$SUDO service postgresql stop >/dev/null 2>&1 || true
