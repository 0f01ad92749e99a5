#!/usr/bin/env bash
# Create benchmarks/.venv-peers with the peer libraries that bench_bandits.py compares against.
#
# The peers live in a virtual environment of their own because their pins clash with the
# project's: on Python 3.11, SMPyBandits 0.9.7 imports only with scipy < 1.14.
#
# Usage: bash benchmarks/setup_peers.sh            (PYTHON=python3.11 to choose the interpreter)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-peers"
python="${PYTHON:-python}"

if [[ ! -x "$venv/bin/python" ]]; then
    echo "creating $venv with $("$python" --version 2>&1)"
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet \
    "smpybandits==0.9.7" "scipy<1.14" "mabwiser==2.7.4" "numpy<2"

# Import check: fail here, not in the middle of a benchmark.
"$venv/bin/python" - <<'PY'
import contextlib
import importlib.metadata as md
import io

with contextlib.redirect_stdout(io.StringIO()):  # SMPyBandits prints warnings on import
    from mabwiser.mab import MAB, LearningPolicy  # noqa: F401
    from SMPyBandits.Policies import Thompson, UCBalpha  # noqa: F401

for name in ("smpybandits", "mabwiser", "numpy", "scipy"):
    print(f"{name} {md.version(name)}")
PY
echo "peers ready in $venv"
