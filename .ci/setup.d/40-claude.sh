#!/usr/bin/env bash
# Claude Code for tests/test_claude_code_e2e.py, in the project-local npm prefix (.ci/node/node_modules/.bin/claude).
# Pinned: the e2e test checks this version's Messages traffic (tools, betas, background haiku turns).
set -euo pipefail
cd "$(dirname "$0")/../.."
CLAUDE_CODE_VERSION="2.1.332"
if [ -x .ci/node/node_modules/.bin/claude ] && .ci/node/node_modules/.bin/claude --version 2>/dev/null | grep -q "$CLAUDE_CODE_VERSION"; then
    exit 0
fi
npm install --prefix .ci/node --no-audit --no-fund --loglevel=error "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION"
DISABLE_AUTOUPDATER=1 .ci/node/node_modules/.bin/claude --version
