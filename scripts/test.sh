#!/usr/bin/env bash
# Installs gib_kernels with its test extras (editable, so the tests see the compiled kernels),
# checks the import layers (lint-imports, contracts in pyproject.toml) and runs the test suite.
# Triton kernels run on the CPU under TRITON_INTERPRET=1 when there is no GPU (tests/conftest.py
# sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet torch==2.13.0
python -m pip install --quiet -e ".[test,triton]"
lint-imports
python -m pytest -q "$@"
