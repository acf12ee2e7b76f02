"""The web workstation against clients that are not its page: no token, the default secret, huge or bad messages.

One real ``imr-analysis app`` server (no patient: nothing to wait for) and real HTTP and
websocket clients (aiohttp), speaking wslink's chunk format by hand as a hostile script
would. Every wait is bounded; the server's resident memory is read from /proc.
"""

from __future__ import annotations

import asyncio
import os
import struct
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

if not os.environ.get("CI"):  # CI installs the web extra: there a missing part fails, never skips
    pytest.importorskip("trame_slicer")

import aiohttp  # noqa: E402
import msgpack  # noqa: E402

from IMRAnalysisLib.webapp.process import memory_mib, running_app  # noqa: E402

MAX_UPLOAD_MB = 50  # the server's bound: uploads 50 MB, websocket messages 50 MB + 1 MiB
FOUR_GB = 4 * 1024**3 - 1  # the largest size a chunk header holds
RSS_GROWTH_LIMIT_MIB = 200.0
TIMEOUT_S = 20.0
WSLINK_DEFAULT_SECRET = "wslink-secret"


@pytest.fixture(scope="module")
def server():
    with running_app(["--max-upload-mb", str(MAX_UPLOAD_MB)]) as (url, process):
        parts = urlsplit(url)
        yield f"{parts.scheme}://{parts.netloc}", parse_qs(parts.query)["token"][0], process


def _run(coroutine) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, TIMEOUT_S))


def _chunk(message_id: int, offset: int, total: int, content: bytes = b"") -> bytes:
    """A wslink chunk: id, offset and the whole message's size (little-endian uint32), then the content."""
    return struct.pack("<III", message_id, offset, total) + content


def _message(message_id: int, envelope: dict) -> bytes:
    packed = msgpack.packb(envelope)
    return _chunk(message_id, 0, len(packed), packed)


def _hello(secret: str) -> bytes:
    return _message(1, {"wslink": "1.0", "id": "system:c0:0", "method": "wslink.hello", "args": [{"secret": secret}],
                        "kwargs": {}})


async def _reply(ws: aiohttp.ClientWebSocketResponse) -> dict:
    message = await ws.receive()
    assert message.type == aiohttp.WSMsgType.BINARY, message
    return msgpack.unpackb(message.data[12:])


async def _closed(ws: aiohttp.ClientWebSocketResponse) -> tuple[int, str]:
    """Read until the server closes; its close code and reason."""
    while True:
        message = await ws.receive()
        if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
            return ws.close_code, message.extra or ""


async def _session(base: str, token: str, secret: str | None, frames: list[bytes | str]) -> tuple[dict | None, Any]:
    """A websocket with the token; its hello reply (when ``secret``), then ``frames`` sent; the close if any."""
    async with aiohttp.ClientSession() as client:
        async with client.ws_connect(f"{base}/ws?token={token}", max_msg_size=0) as ws:
            greeting = None
            if secret is not None:
                await ws.send_bytes(_hello(secret))
                greeting = await _reply(ws)
            for frame in frames:
                await (ws.send_str(frame) if isinstance(frame, str) else ws.send_bytes(frame))
            try:
                closed = await asyncio.wait_for(_closed(ws), 5.0)
            except asyncio.TimeoutError:
                closed = None  # still open: nothing refused
            return greeting, closed


async def _status(url: str, **options: Any) -> int:
    async with aiohttp.ClientSession() as client:
        async with client.get(url, allow_redirects=False, **options) as response:
            return response.status


def test_every_request_needs_the_token(server) -> None:
    base, token, _ = server
    for path in ("/", "/index.html", "/imr_download/IMR-results.zip", "/ws", "/vue.global.js"):
        assert _run(_status(f"{base}{path}")) == 403, path
        assert _run(_status(f"{base}{path}?token=wrong-{token}")) == 403, path
    assert _run(_status(f"{base}/imr_download/IMR-results.zip?token={token}")) == 404  # allowed; nothing exported
    assert _run(_status(f"{base}/vue.global.js", cookies={f"imr_token_{urlsplit(base).port}": token})) == 200
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        _run(_session(base, f"wrong-{token}", None, []))
    assert refused.value.status == 403


def test_the_websocket_secret_is_the_token_never_wslinks_default(server) -> None:
    base, token, _ = server
    greeting, _ = _run(_session(base, token, WSLINK_DEFAULT_SECRET, []))
    assert greeting["error"]["message"] == "Authentication failed"
    greeting, closed = _run(_session(base, token, token, []))
    assert greeting["result"]["clientID"] and closed is None


def test_oversized_and_malformed_messages_close_the_connection_and_memory_stays_bounded(server) -> None:
    base, token, process = server
    before = memory_mib(process)
    # about 20 bytes claiming 4 GB each, 24 GB in all; one per connection, as the first is refused and the
    # connection closed (a second frame would only race the close)
    claims = [_chunk(100 + index, 0, FOUR_GB, b"x" * 8) for index in range(3)]
    within = MAX_UPLOAD_MB * 1_000_000  # each claim alone is allowed, never two at once
    for secret in (WSLINK_DEFAULT_SECRET, token):
        for claim in claims:
            greeting, (code, reason) = _run(_session(base, token, secret, [claim]))
            assert code == 1009 and "refused: the limit is" in reason, (secret, greeting)
    greeting, (code, reason) = _run(_session(base, token, token, [_chunk(7, 0, within), _chunk(8, 0, within)]))
    assert code == 1009 and greeting["result"]["clientID"]
    malformed = {
        "short chunk": b"\x01\x02",
        "out of order": _chunk(9, 5, 20, b"abc"),
        "beyond its message": _chunk(9, 0, 4, b"too long"),
        "not msgpack": _chunk(9, 0, 3, b"\xc1\xc1\xc1"),
        "not an envelope": _message(9, [1, 2, 3]),
        "a call without method": _message(9, {"id": "rpc:x:1"}),
    }
    for name, frame in malformed.items():
        _, (code, reason) = _run(_session(base, token, token, [frame]))
        assert code == 1007 and reason.startswith("malformed"), name
    _, closed = _run(_session(base, token, token, ["text frames are ignored"]))
    assert closed is None
    assert _run(_status(f"{base}/?token={token}")) == 302  # still serving
    growth = memory_mib(process) - before
    print(f"server RSS {before:.0f} MiB before, growth {growth:.1f} MiB")
    assert growth < RSS_GROWTH_LIMIT_MIB
    assert memory_mib(process, "VmHWM") - before < RSS_GROWTH_LIMIT_MIB


async def _two_sessions(base: str, token: str) -> tuple[int, int, dict]:
    """While one websocket is open: the page and a second websocket; then the second once the first closed."""
    cookie = {f"imr_token_{urlsplit(base).port}": token}
    async with aiohttp.ClientSession() as client:
        async with client.ws_connect(f"{base}/ws?token={token}") as first:
            await first.send_bytes(_hello(token))
            assert "result" in await _reply(first)
            async with client.get(f"{base}/index.html?secret={token}", cookies=cookie) as page:
                page_status = page.status
                assert "open in another browser" in await page.text()
            try:
                async with client.ws_connect(f"{base}/ws?token={token}"):
                    second_status = 101
            except aiohttp.WSServerHandshakeError as refused:
                second_status = refused.status
        await asyncio.sleep(0.5)  # the server notes the first session's end
        async with client.ws_connect(f"{base}/ws?token={token}") as second:
            await second.send_bytes(_hello(token))
            return page_status, second_status, await _reply(second)


def test_a_second_session_is_refused_while_one_is_open(server) -> None:
    base, token, _ = server
    page_status, second_status, greeting = _run(_two_sessions(base, token))
    assert (page_status, second_status) == (409, 409)
    assert greeting["result"]["clientID"]


def test_a_short_token_from_the_environment_is_refused(monkeypatch, capsys) -> None:
    from IMRAnalysisLib.cli import main as cli_main

    monkeypatch.setenv("IMR_APP_TOKEN", "short")
    assert cli_main(["app", "--port", "1"]) == 2
    assert "IMR_APP_TOKEN must be at least 16 characters" in capsys.readouterr().err
