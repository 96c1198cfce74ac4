"""The official MCP Python SDK (2.x) against a node's /mcp: prints one JSON report.

usage: mcp_client.py URL TOKEN
"""

import asyncio
import json
import sys

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


async def session_report(url: str, token: str) -> dict:
    report: dict = {}
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                report["protocol_version"] = str(init.protocol_version)
                tools = await session.list_tools()
                report["tools"] = [t.name for t in tools.tools]
                found = await session.call_tool("search", {"query": "greet"})
                report["search"] = found.structured_content
                name = found.structured_content["operations"][0]["name"]
                schema = await session.call_tool("schema", {"operation": name})
                report["schema_input"] = schema.structured_content["input_schema"]
                called = await session.call_tool("call", {"operation": name, "input": {"name": "py"}})
                report["call"] = {"is_error": called.is_error, "structured": called.structured_content,
                                  "text": called.content[0].text}
                batch = await session.call_tool("batch", {"calls": [
                    {"operation": "/demo/echo", "input": {"n": 1}},
                    {"operation": "/demo/register", "input": {"name": "admin"}},
                ]})
                report["batch"] = batch.structured_content
                failed = await session.call_tool("call", {"operation": "/demo/register", "input": {"name": "admin"}})
                report["domain_error"] = {"is_error": failed.is_error, "structured": failed.structured_content}
    return report


async def refused(url: str) -> str:
    try:
        async with httpx2.AsyncClient() as http:
            async with streamable_http_client(url, http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    await asyncio.wait_for(session.initialize(), 20)
        return "connected"
    except BaseException as error:  # the SDK raises through task groups
        return "refused: " + "; ".join(f"{type(e).__name__}: {e}" for e in leaves(error))


def leaves(error: BaseException):
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from leaves(inner)
    else:
        yield error


async def main() -> None:
    url, token = sys.argv[1], sys.argv[2]
    report = await session_report(url, token)
    report["without_token"] = await refused(url)
    print(json.dumps(report))


asyncio.run(main())
