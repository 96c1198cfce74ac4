"""A FastAPI upstream for the request/response body tests of `from_openapi`.

It binds 127.0.0.1 on a free port, prints the port on one line, and serves until killed.
Every endpoint answers with what it received, so the test can check it byte for byte.
"""

import hashlib
import socket
import sys

import uvicorn
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import PlainTextResponse, Response

app = FastAPI(title="bodies", version="1")


def digest(data: bytes) -> dict:
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


@app.post("/form", operation_id="form")
async def form(name: str = Form(), tags: list[str] = Form(), count: int = Form()):
    return {"name": name, "tags": tags, "count": count}


@app.post("/upload", operation_id="upload")
async def upload(
    note: str = Form(),
    file: UploadFile = File(),
    extras: list[UploadFile] = File(default=[]),
):
    data = await file.read()
    extra = [digest(await f.read()) | {"filename": f.filename} for f in extras]
    return {
        "note": note,
        "filename": file.filename,
        "content_type": file.content_type,
        "extras": extra,
    } | digest(data)


@app.post(
    "/text",
    operation_id="text",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def text(request: Request):
    body = await request.body()
    return {"content_type": request.headers["content-type"], "text": body.decode("utf-8")}


@app.post(
    "/binary",
    operation_id="binary",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {
                    "schema": {"type": "string", "format": "binary"}
                }
            },
        }
    },
)
async def binary(request: Request):
    body = await request.body()
    return {"content_type": request.headers["content-type"]} | digest(body)


@app.get("/image", operation_id="image")
async def image():
    return Response(content=bytes(range(256)), media_type="image/png")


@app.get("/plain", operation_id="plain", response_class=PlainTextResponse)
async def plain():
    return "héllo\nwörld"


if __name__ == "__main__":
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])
    sys.exit(0)
