"""The official MCP Python SDK (2.x) against a node's /mcp: prints one JSON report.

usage: mcp_client.py URL TOKEN ERA
ERA: `legacy` (the initialize handshake, a session) or `2026-07-28` (stateless requests).
"""

import asyncio
import json
import sys

import httpx2
from mcp import ClientSession
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client


async def exercise(client, report: dict) -> None:
    """The same flow whatever the era: list, the gateway tools, a direct tool when listed, and
    a subscription streamed as progress."""
    tools = await client.list_tools()
    report["tools"] = [t.name for t in tools.tools]
    report["annotations"] = {
        t.name: {"read_only": t.annotations.read_only_hint if t.annotations else None} for t in tools.tools
    }
    found = await client.call_tool("search", {"query": "greet"})
    report["search"] = found.structured_content
    name = found.structured_content["operations"][0]["name"]
    schema = await client.call_tool("schema", {"operation": name})
    report["schema_input"] = schema.structured_content["input_schema"]
    called = await client.call_tool("call", {"operation": name, "input": {"name": "py"}})
    report["call"] = {"is_error": called.is_error, "structured": called.structured_content,
                      "text": called.content[0].text}
    batch = await client.call_tool("batch", {"calls": [
        {"operation": "/demo/echo", "input": {"n": 1}},
        {"operation": "/demo/register", "input": {"name": "admin"}},
    ]})
    report["batch"] = batch.structured_content
    failed = await client.call_tool("call", {"operation": "/demo/register", "input": {"name": "admin"}})
    report["domain_error"] = {"is_error": failed.is_error, "structured": failed.structured_content}
    if "demo.greet" in report["tools"]:
        direct = await client.call_tool("demo.greet", {"name": "direct"})
        report["direct"] = {"is_error": direct.is_error, "structured": direct.structured_content}
        taken = await client.call_tool("demo.register", {"name": "admin"})
        report["direct_error"] = {"is_error": taken.is_error, "text": taken.content[0].text}
    progress = []

    async def on_progress(value, total, message):
        progress.append({"progress": value, "message": message})

    ticks = await client.call_tool("call", {"operation": "demo/ticks", "input": {"count": 3, "interval_ms": 10}},
                                   progress_callback=on_progress)
    report["subscription"] = {"structured": ticks.structured_content, "progress": progress}


async def session_report(url: str, token: str, era: str) -> dict:
    report: dict = {}
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        if era == "legacy":
            async with streamable_http_client(url, http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    init = await session.initialize()
                    report["protocol_version"] = str(init.protocol_version)
                    await exercise(session, report)
        else:
            async with Client(streamable_http_client(url, http_client=http), mode=era) as client:
                report["protocol_version"] = client.protocol_version
                await exercise(client, report)
    return report


async def refused(url: str, era: str) -> str:
    try:
        async with httpx2.AsyncClient() as http:
            if era == "legacy":
                async with streamable_http_client(url, http_client=http) as (read, write):
                    async with ClientSession(read, write) as session:
                        await asyncio.wait_for(session.initialize(), 20)
            else:
                async with Client(streamable_http_client(url, http_client=http), mode=era) as client:
                    await asyncio.wait_for(client.list_tools(), 20)
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
    url, token, era = sys.argv[1], sys.argv[2], sys.argv[3]
    report = await session_report(url, token, era)
    report["without_token"] = await refused(url, era)
    print(json.dumps(report))


asyncio.run(main())
