#!/usr/bin/env bash
# Create the Python venv with the official MCP SDK (PyPI `mcp`), the real MCP client triaged's
# MCP tests drive over HTTP (see tests/mcp/client.py). Idempotent and quick when done already.
#
#   tests/mcp/setup.sh            # venv at ./.venv-mcp (run from the repo root)
#   TRIAGED_MCP_VENV=/some/dir tests/mcp/setup.sh
#
# Installs one pinned package (and its pure-Python or prebuilt-wheel dependencies): mcp==2.3.0,
# the newest release on 2026-12-02, which speaks both 2026-07-28 and the legacy initialize era.
# On success the last line of stdout is the venv's absolute path.
set -euo pipefail

MCP_VERSION=2.3.0
VENV=${TRIAGED_MCP_VENV:-.venv-mcp}

if ! command -v python3 >/dev/null 2>&1; then
    echo "setup.sh: python3 not found; install Python 3.10+ (with the venv module) first" >&2
    exit 1
fi

PY="$VENV/bin/python"

installed() {
    [ -x "$PY" ] && "$PY" - "$MCP_VERSION" <<'PYEOF' 2>/dev/null
import importlib.metadata as md, sys
assert md.version("mcp") == sys.argv[1]
from mcp import Client  # noqa: F401
from mcp.client.streamable_http import streamable_http_client  # noqa: F401
import httpx2  # noqa: F401
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
    echo "setup.sh: installing mcp==$MCP_VERSION" >&2
    "$PY" -m pip install --disable-pip-version-check -q --only-binary=:all: "mcp==$MCP_VERSION" >&2
    if ! installed; then
        echo "setup.sh: install finished but the check failed (mcp, its client or httpx2 missing)" >&2
        exit 1
    fi
fi

cd "$VENV" && pwd
