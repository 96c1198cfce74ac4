"""A real upstream MCP server (the official Python SDK's MCPServer) for `from_mcp`.

usage: mcp_server.py PORT   (streamable HTTP at http://127.0.0.1:PORT/mcp)
"""

import sys
from typing import TypedDict

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


mcp.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
