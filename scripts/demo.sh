#!/usr/bin/env bash
# The whole demo on a fresh machine: install, index corpus/, prepare the local model, serve on :8000.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
searchchat index corpus/
searchchat prepare
exec searchchat serve --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
