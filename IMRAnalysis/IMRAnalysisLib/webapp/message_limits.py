"""Websocket messages of bounded size, refused before any memory is set aside for them.

wslink sends a message as chunks, each with a 12-byte header claiming the whole message's
size, and its own un-chunker allocates that size at the first chunk: a few headers
claiming 4 GB each exhaust the server's memory. ``BoundedUnchunker`` takes its place for
every connection: it holds only the bytes that arrived, refuses a claim that would take a
connection's pending messages above the bound, refuses malformed chunks and envelopes,
and then closes the connection with the reason instead of raising into the server.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Any, Callable

import msgpack
from aiohttp import WSCloseCode

HEADER = struct.Struct("<III")  # wslink's chunk header: message id, offset, the whole message's size
BEFORE_HELLO_BYTES = 4096  # until the client said the secret; a hello is about 100 bytes
ENVELOPE_BYTES = 1 << 20  # a state update carries a file with its name, type and other changed values
CLOSE_REASON_BYTES = 120  # a websocket close reason holds at most 123 bytes

log = logging.getLogger(__name__)

Refuse = Callable[[int, str], None]


def message_bound(max_upload_bytes: int) -> int:
    """The largest websocket message: an upload travels in one message, so all the uploads plus their envelope."""
    return max_upload_bytes + ENVELOPE_BYTES


class MessageRefused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


class BoundedUnchunker:
    """wslink's un-chunker interface (``process_chunk``, ``set_max_message_size``, ``release_pending_messages``).

    Chunks of a message arrive in order (the client sends them so); messages may interleave.
    """

    def __init__(self, bound: int, refuse: Refuse) -> None:
        self.bound = bound
        self.limit = min(BEFORE_HELLO_BYTES, bound)
        self.pending: dict[int, tuple[int, bytearray]] = {}  # message id -> (claimed size, bytes so far)
        self.refused = False
        self._refuse = refuse

    def set_max_message_size(self, size: int) -> None:
        """wslink lifts the limit once the secret is right (to 4 GB): never above the bound."""
        self.limit = min(size, self.bound)

    def release_pending_messages(self) -> None:
        self.pending = {}

    def process_chunk(self, chunk: bytes) -> dict[str, Any] | None:
        """The whole message once its last chunk is in; nothing more after a refusal."""
        if self.refused:
            return None
        try:
            return self._add(chunk)
        except MessageRefused as refusal:
            self.refused = True
            self.pending = {}
            self._refuse(refusal.code, str(refusal))
            return None

    def _add(self, chunk: bytes) -> dict[str, Any] | None:
        if len(chunk) < HEADER.size:
            raise MessageRefused(WSCloseCode.INVALID_TEXT, "malformed chunk: shorter than its header")
        message_id, offset, size = HEADER.unpack_from(chunk)
        content = memoryview(chunk)[HEADER.size:]
        if message_id not in self.pending:
            claimed = size + sum(total for total, _ in self.pending.values())
            if claimed > self.limit:
                raise MessageRefused(WSCloseCode.MESSAGE_TOO_BIG,
                                     f"message of {size} bytes refused: the limit is {self.limit} bytes")
            self.pending[message_id] = (size, bytearray())
        total, received = self.pending[message_id]
        if size != total or offset != len(received) or offset + len(content) > total:
            raise MessageRefused(WSCloseCode.INVALID_TEXT, "malformed chunk: not the next part of its message")
        received += content
        if len(received) < total:
            return None
        del self.pending[message_id]
        return _envelope(received)


def _envelope(packed: bytearray) -> dict[str, Any]:
    """A wslink envelope: a map, and a call names its method (wslink would raise on anything else)."""
    try:
        message = msgpack.unpackb(packed)
    except (ValueError, TypeError, msgpack.UnpackException) as error:
        raise MessageRefused(WSCloseCode.INVALID_TEXT, f"malformed message: {type(error).__name__}") from error
    if not isinstance(message, dict) or ("id" in message and not isinstance(message.get("method"), str)):
        raise MessageRefused(WSCloseCode.INVALID_TEXT, "malformed message: not a wslink envelope")
    return message


class BoundedUnchunkers(dict):
    """wslink's handler stores an un-chunker per connection in ``unchunkers[client_id]``: this mapping keeps a
    ``BoundedUnchunker`` instead, which closes that connection when it refuses."""

    def __init__(self, handler, bound: int) -> None:
        super().__init__()
        self.handler = handler
        self.bound = bound
        self.closing: set[asyncio.Task] = set()

    def __setitem__(self, client_id: str, _unbounded: Any) -> None:
        super().__setitem__(client_id, BoundedUnchunker(self.bound, self._closer(client_id)))

    def _closer(self, client_id: str) -> Refuse:
        def refuse(code: int, reason: str) -> None:
            log.warning("websocket client %s closed: %s", client_id, reason)
            websocket = self.handler.connections[client_id]
            task = asyncio.get_running_loop().create_task(
                websocket.close(code=code, message=reason.encode()[:CLOSE_REASON_BYTES]))
            self.closing.add(task)
            task.add_done_callback(self.closing.discard)

        return refuse


def bound_messages(web_server, bound: int) -> None:
    """Bound every websocket route of a wslink web server (its aiohttp handlers) before it starts."""
    for handler in web_server._ws_handlers:  # wslink keeps them only there
        handler.unchunkers = BoundedUnchunkers(handler, bound)
