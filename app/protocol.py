"""uvicorn's HTTP protocol (httptools, what uvicorn[standard] runs) with a deadline for each
request's head. uvicorn 0.54 has none: it times out only the idle gap after a response (its
keep-alive), so a client that connects and sends nothing, or sends its headers a byte at a
time, would hold a connection, and a file descriptor, for ever."""

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.settings import get_settings


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """Closes a connection whose request head is not complete HEADER_TIMEOUT_SECONDS after the
    connection opened (its first request) or after the first byte after a response (later
    requests)."""

    head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.start_deadline()

    def data_received(self, data: bytes) -> None:
        # Any byte ends uvicorn's keep-alive wait, even blank lines, which begin no message, or
        # a body still streaming in after its response: between requests, the head's deadline
        # runs from the first byte.
        if self.head_deadline is None and (self.cycle is None or self.cycle.response_complete):
            self.start_deadline()
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.head_deadline is None:  # a later request, which ended the keep-alive wait
            self.start_deadline()

    def on_headers_complete(self) -> None:
        self.cancel_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self.cancel_deadline()
        super().connection_lost(exc)

    def start_deadline(self) -> None:
        seconds = get_settings().header_timeout_seconds
        self.head_deadline = self.loop.call_later(seconds, self.transport.close)

    def cancel_deadline(self) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None
