#!/usr/bin/env bash
# A plain `pip install .` (no extras) in a new venv must run the README's first command: serve the demo
# config, answer one chat request per dialect (stream and not), pass `llm-link check` on every config in
# configs/, and stop cleanly on SIGTERM. Catches undeclared import-time dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$(mktemp -d)/venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
"$venv/bin/pip" install -q .
# Run from outside the checkout so only the installed package can be imported.
cd "$(dirname "$venv")"
"$venv/bin/python" "$OLDPWD/.ci/fresh_install_check.py" "$venv/bin/llm-link" "$OLDPWD/configs"
