"""A real upstream MCP server (the official Python SDK's MCPServer) for `from_mcp`.

usage: mcp_server.py PORT [TOKEN_FILE]   (streamable HTTP at http://127.0.0.1:PORT/mcp)

With TOKEN_FILE, every request must carry `Authorization: Bearer <the file's content>`, the
file read per request: rewriting it rotates the token while the server runs.
"""

import sys
from pathlib import Path
from typing import TypedDict

import uvicorn

from mcp.server.mcpserver import MCPServer

mcp = MCPServer("alknet-e2e-upstream")


class Sum(TypedDict):
    total: int
    terms: list[int]


@mcp.tool()
def add(a: int, b: int) -> Sum:
    """Add two integers (structured result with an output schema)."""
    return {"total": a + b, "terms": [a, b]}


@mcp.tool(structured_output=False)
def shout(text: str) -> str:
    """Upper-case a text (unstructured: one text block)."""
    return text.upper() + "!"


@mcp.tool(structured_output=False)
def explode(reason: str) -> str:
    """Always fails (an isError result)."""
    raise ValueError(f"exploded: {reason}")


def require_token(app, token_file: Path):
    """A pure ASGI layer refusing HTTP requests without the current token (401)."""

    async def layer(scope, receive, send):
        if scope["type"] == "http":
            expected = b"Bearer " + token_file.read_text().strip().encode()
            if dict(scope["headers"]).get(b"authorization") != expected:
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": b""})
                return
        await app(scope, receive, send)

    return layer


port = int(sys.argv[1])
if len(sys.argv) > 2:
    app = require_token(mcp.streamable_http_app(), Path(sys.argv[2]))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
else:
    mcp.run("streamable-http", host="127.0.0.1", port=port)
