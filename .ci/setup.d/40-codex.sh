#!/usr/bin/env bash
# The Codex CLI for tests/test_codex_e2e.py, in a project-local npm prefix (.ci/node/node_modules/.bin/codex).
# Pinned: the e2e test checks this version's Responses traffic and config keys.
set -euo pipefail
cd "$(dirname "$0")/../.."
CODEX_VERSION="0.171.0"
if [ -x .ci/node/node_modules/.bin/codex ] && .ci/node/node_modules/.bin/codex --version 2>/dev/null | grep -q "$CODEX_VERSION"; then
    exit 0
fi
npm install --prefix .ci/node --no-audit --no-fund --loglevel=error "@openai/codex@$CODEX_VERSION"
.ci/node/node_modules/.bin/codex --version
