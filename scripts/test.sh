#!/usr/bin/env bash
# Installs gib_kernels with its test extras (editable, so the tests see the compiled kernels)
# against the pinned versions of constraints.txt, checks the import layers (lint-imports,
# contracts in pyproject.toml) and runs the test suite. Triton kernels run on the CPU under
# TRITON_INTERPRET=1 when there is no GPU (tests/conftest.py sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
# PIP_CONSTRAINT (rather than -c) holds for the isolated build environment as well.
export PIP_CONSTRAINT="$PWD/constraints.txt"
python -m pip install --quiet torch==2.13.0
echo "test.sh: building and installing gib_kernels (the C++ kernels take about two minutes)"
python -m pip install --quiet -e ".[test,triton,lightning]"
lint-imports
python -m pytest -q "$@"
