#!/usr/bin/env bash
# One command: set everything up, lint, and run the whole test suite
# (unit, integration against the real RabbitMQ, end to end). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/ensure-test-tools.sh
echo "==> ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "==> import layers (lint-imports)"
.venv/bin/lint-imports
echo "==> pytest"
exec .venv/bin/pytest "$@"
