#!/usr/bin/env bash
# gemini-cli for the end-to-end test (tests/test_gemini_cli.py), in a project-local prefix: .ci/node.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=0.61.0
BIN=.ci/node/node_modules/.bin/gemini
if [ -x "$BIN" ] && [ "$("$BIN" --version 2>/dev/null)" = "$VERSION" ]; then exit 0; fi
npm install --prefix .ci/node --no-audit --no-fund --loglevel=error "@google/gemini-cli@$VERSION" >/dev/null
"$BIN" --version
