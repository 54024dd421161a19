"""A real MCP client (the official Python SDK, PyPI `mcp`) against triaged's /mcp, for the
integration tests (tests/api/mcp/python.rs). It connects, lists the tools, calls
search_conversations and get_conversation, and prints one JSON document with what it saw.

    client.py URL MODE CONVERSATION_ID SEARCH_TEXT
    env TRIAGED_MCP_TOKEN: sent as `Authorization: Bearer …` (unset: no header, e.g. a path token)

MODE is the SDK's: `legacy` (initialize handshake, 2025-era) or `auto` (probes 2026-07-28's
server/discover and falls back to initialize). A failure prints {"error": "...", "statuses":
[the HTTP statuses seen]} and exits 1.
"""

import json
import os
import sys

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


def result(r):
    return {
        "is_error": bool(r.is_error),
        "structured": r.structured_content,
        "text": "".join(getattr(c, "text", "") for c in r.content),
    }


# HTTP statuses of every response, printed with a failure (the SDK's error does not say them).
STATUSES: list = []


async def record(response) -> None:
    STATUSES.append(response.status_code)


async def main(url: str, mode: str, conversation: str, search: str) -> dict:
    headers = {}
    token = os.environ.get("TRIAGED_MCP_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    hooks = {"response": [record]}
    async with httpx2.AsyncClient(headers=headers, timeout=30, event_hooks=hooks) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
            tools = (await client.list_tools()).tools
            found = await client.call_tool("search_conversations", {"text": search})
            read = await client.call_tool("get_conversation", {"conversation_id": conversation})
            info = client.server_info
            return {
                "protocol_version": client.protocol_version,
                "server": info.name if info else None,
                "tools": [
                    {
                        "name": t.name,
                        "title": t.title,
                        "read_only": t.annotations.read_only_hint if t.annotations else None,
                        "has_output_schema": t.output_schema is not None,
                    }
                    for t in tools
                ],
                "search": result(found),
                "conversation": result(read),
            }


def leaves(e: BaseException) -> list:
    """The innermost errors of a (nested) exception group: the ones that say what happened."""
    if isinstance(e, BaseExceptionGroup):
        return [leaf for inner in e.exceptions for leaf in leaves(inner)]
    return [f"{type(e).__name__}: {e}"]


if __name__ == "__main__":
    try:
        out = anyio.run(main, *sys.argv[1:5])
    except BaseException as e:  # noqa: BLE001 - the test reads the failure
        print(json.dumps({"error": "; ".join(leaves(e)), "statuses": STATUSES}))
        sys.exit(1)
    print(json.dumps(out))
