#!/usr/bin/env bash
# Runs inside the freshly created conda environment: the packages whose metadata pins are stale
# (torchmeta 1.8.0 asks for torch<1.10), then this project itself, without dependencies.
set -euo pipefail
pip install --no-deps torchmeta==1.8.0 mlxtend==0.25.0
pip install --no-deps -e "$(dirname "$0")/../.."
