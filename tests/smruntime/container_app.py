"""A small model server on SageMaker's container contract, for container-mode tests (Starlette).

``GET /ping``: 200, or 503 while ``CONTAINER_HEALTHY_FILE`` (a path) names a file that does not
exist yet (the test makes it when the container is to become healthy).
``POST /invocations``: a JSON body ``{"inputs": ..., "stream": bool, "mode": ...}``. Without
``stream`` it answers JSON describing what it received (body, Content-Type, Accept, custom
attributes) with ``X-Amzn-SageMaker-Custom-Attributes: container=yes``; with ``stream`` it sends
TGI-style SSE token events (``CONTAINER_TOKEN_DELAY`` seconds apart, ``tokens`` of them).
``mode``: ``error`` (400), ``crash`` (500 text), ``hang`` (no answer for 30 s), ``stall`` (one
event, then nothing for 30 s).
WebSocket ``/invocations-bidirectional-stream``: each message straight back (text as text, bytes
as bytes); a text message ``"fail"`` closes with code 1011 and reason ``model exploded``; ``"bye"``
closes normally; a first message ``"headers"`` is answered with the handshake's
``x-amzn-sagemaker-*`` headers (JSON). ``CONTAINER_NO_WEBSOCKET=1`` leaves the route out.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

HEALTHY_FILE = os.environ.get("CONTAINER_HEALTHY_FILE")
TOKEN_DELAY = float(os.environ.get("CONTAINER_TOKEN_DELAY", "0.001"))


async def ping(request: Request) -> Response:
    if HEALTHY_FILE is not None and not os.path.exists(HEALTHY_FILE):
        return PlainTextResponse("warming up", status_code=503)
    return PlainTextResponse("")


async def invocations(request: Request) -> Response:
    raw = await request.body()
    try:
        document = json.loads(raw) if raw else {}
    except ValueError:
        document = {"inputs": raw.decode("utf-8", "replace")}
    mode = document.get("mode")
    if mode == "error":
        return JSONResponse({"error": "bad input", "error_type": "validation"}, status_code=400)
    if mode == "crash":
        return PlainTextResponse("model exploded", status_code=500)
    if mode == "hang":
        await asyncio.sleep(30)
    attributes = {"X-Amzn-SageMaker-Custom-Attributes": "container=yes"}
    if not document.get("stream"):
        return JSONResponse(
            {
                "body": raw.decode("utf-8", "replace"),
                "content_type": request.headers.get("content-type"),
                "accept": request.headers.get("accept"),
                "custom_attributes": request.headers.get("x-amzn-sagemaker-custom-attributes"),
            },
            headers=attributes,
        )
    words = str(document.get("inputs", "")).split() or ["empty"]
    count = int(document.get("tokens", len(words)))

    async def events() -> AsyncIterator[bytes]:
        for index in range(count):
            text = " " + words[index % len(words)]
            record = {"index": index, "token": {"id": index, "text": text, "special": False}}
            yield b"data:" + json.dumps(record).encode() + b"\n\n"
            if mode == "stall":
                await asyncio.sleep(30)
            await asyncio.sleep(TOKEN_DELAY)

    return StreamingResponse(events(), media_type="text/event-stream", headers=attributes)


async def bidirectional(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text, data = message.get("text"), message.get("bytes")
            if text == "fail":
                await websocket.close(code=1011, reason="model exploded")
                return
            if text == "bye":
                await websocket.close()
                return
            if text == "headers":
                seen = {k: v for k, v in websocket.headers.items() if k.startswith("x-amzn-")}
                await websocket.send_text(json.dumps(seen))
            elif text is not None:
                await websocket.send_text(text)
            else:
                await websocket.send_bytes(data or b"")
    except WebSocketDisconnect:
        return


routes = [
    Route("/ping", ping, methods=["GET"]),
    Route("/invocations", invocations, methods=["POST"]),
]
if os.environ.get("CONTAINER_NO_WEBSOCKET") != "1":
    routes.append(WebSocketRoute("/invocations-bidirectional-stream", bidirectional))
app = Starlette(routes=routes)
