"""``HttpClient.stream``: a response read line by line as a loopback server writes it, with
idle and header timeouts, a close from another thread and the client's own close."""

from __future__ import annotations

import queue
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler

import pytest

from reconciler.httpclient.client import HttpClient
from reconciler.httpclient.errors import (
    BodyTooLarge,
    HttpConnectionError,
    HttpTimeout,
    InvalidRequest,
)
from reconciler.httpclient.messages import HttpRequest
from tests.ports import free_port
from tests.servers.httpserve import ClosingHTTPServer, serving

SECRET = "Bearer stream-secret-4d3c2b1a"
CUT, END = b"<cut>", b"<end>"  # what a test puts to hang up, or to end the body cleanly


@dataclass
class Script:
    """What the server writes: each item put is one chunk; CUT or END stops the body."""

    port: int = 0
    status: int = 200
    hold_headers: bool = False  # answer nothing at all (a server that hangs)
    chunks: queue.Queue[bytes] = field(default_factory=queue.Queue)
    requests: list[dict[str, str]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str = "/stream") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        script = self.server.script
        script.requests.append(dict(self.headers.items()))
        self._answer(script)

    def _answer(self, script: Script) -> None:
        if script.hold_headers:
            script.release.wait()
            self.close_connection = True
            return
        self.send_response(script.status)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while True:
            chunk = script.chunks.get()
            if chunk == CUT:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if chunk == END:
                self.wfile.write(b"0\r\n\r\n")
                return
            try:
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            except OSError:
                return


class _Server(ClosingHTTPServer):
    script: Script


@pytest.fixture
def script() -> Iterator[Script]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.script = Script(port=server.server_address[1])
    with serving(server):
        try:
            yield server.script
        finally:
            server.script.release.set()
            server.script.chunks.put(CUT)


@pytest.fixture
def client() -> Iterator[HttpClient]:
    with HttpClient(trust_env=False) as opened:
        yield opened


def request(
    url: str, *, timeout: timedelta = timedelta(seconds=5), max_body_bytes: int = 1 << 20
) -> HttpRequest:
    return HttpRequest(
        "GET", url, {"Authorization": SECRET}, timeout=timeout, max_body_bytes=max_body_bytes
    )


@contextmanager
def reading(lines: Iterator[bytes]) -> Iterator[queue.Queue[bytes | BaseException | None]]:
    """Read ``lines`` in a thread; each line, the error that ended them, or None at the end."""
    out: queue.Queue[bytes | BaseException | None] = queue.Queue()

    def run() -> None:
        try:
            for line in lines:
                out.put(line)
        except Exception as exc:
            out.put(exc)
        else:
            out.put(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        thread.join(10)
        assert not thread.is_alive()


def test_lines_arrive_as_written_across_chunks(script: Script, client: HttpClient) -> None:
    with client.stream(request(script.url())) as answer, reading(answer.lines(5)) as got:
        assert (answer.status, answer.header("content-type")) == (200, "application/x-ndjson")
        script.chunks.put(b'{"a": 1}\n{"b"')
        assert got.get(timeout=5) == b'{"a": 1}'
        script.chunks.put(b": 2}\r\n\n")  # CRLF and an empty line
        assert [got.get(timeout=5), got.get(timeout=5)] == [b'{"b": 2}', b""]
        script.chunks.put(b"last, without a line end")
        script.chunks.put(END)
        assert [got.get(timeout=5), got.get(timeout=5)] == [b"last, without a line end", None]
    assert script.requests[0]["Authorization"] == SECRET
    assert script.requests[0]["User-Agent"].startswith("reconciler/")


def test_silence_longer_than_idle_is_a_timeout(script: Script, client: HttpClient) -> None:
    with client.stream(request(script.url())) as answer, reading(answer.lines(0.2)) as got:
        script.chunks.put(b"one\n")
        assert got.get(timeout=5) == b"one"
        ended = got.get(timeout=10)
    assert isinstance(ended, HttpTimeout)
    assert str(ended) == f"nothing from {script.url()} within 0.2s"


def test_close_from_another_thread_ends_a_blocked_reader(
    script: Script, client: HttpClient
) -> None:
    answer = client.stream(request(script.url()))
    with reading(answer.lines(60)) as got:
        script.chunks.put(b"one\n")
        assert got.get(timeout=5) == b"one"
        answer.close()  # the reader waits for up to 60 s of silence: the close ends it
        assert got.get(timeout=5) is None


def test_closing_the_client_ends_its_streams(script: Script) -> None:
    client = HttpClient(trust_env=False)
    answer = client.stream(request(script.url()))
    with reading(answer.lines(60)) as got:
        client.close()
        assert got.get(timeout=10) is None
    answer.close()


def test_headers_not_sent_within_the_timeout(script: Script, client: HttpClient) -> None:
    script.hold_headers = True
    with pytest.raises(HttpTimeout) as caught:
        client.stream(request(script.url(), timeout=timedelta(seconds=0.3)))
    assert str(caught.value) == f"no response from {script.url()} within 0.3s"


def test_a_cut_stream_is_a_connection_error(script: Script, client: HttpClient) -> None:
    with client.stream(request(script.url())) as answer, reading(answer.lines(5)) as got:
        script.chunks.put(b"one\ntwo, cut in the midd")
        assert got.get(timeout=5) == b"one"
        script.chunks.put(CUT)
        ended = got.get(timeout=10)
    assert isinstance(ended, HttpConnectionError)
    assert SECRET not in str(ended)


def test_a_line_over_the_limit_is_refused(script: Script, client: HttpClient) -> None:
    with (
        client.stream(request(script.url(), max_body_bytes=8)) as answer,
        reading(answer.lines(5)) as got,
    ):
        script.chunks.put(b"12345678\n123456789")
        assert got.get(timeout=5) == b"12345678"
        ended = got.get(timeout=5)
    assert isinstance(ended, BodyTooLarge)


def test_an_error_status_is_answered_with_its_body(script: Script, client: HttpClient) -> None:
    script.status = 401
    script.chunks.put(b'{"error": {"http_code": 401}}')
    script.chunks.put(END)
    with client.stream(request(script.url())) as answer:
        assert answer.status == 401
        assert list(answer.lines(5)) == [b'{"error": {"http_code": 401}}']
    assert SECRET not in repr(answer)


def test_no_server_is_a_connection_error(client: HttpClient) -> None:
    port = free_port()
    with pytest.raises(HttpConnectionError) as caught:
        client.stream(request(f"http://127.0.0.1:{port}/stream"))
    assert str(caught.value).startswith(f"cannot connect to 127.0.0.1:{port}")


def test_a_header_value_that_is_not_one_line_is_refused(client: HttpClient) -> None:
    bad = HttpRequest("GET", "http://127.0.0.1:9/", {"Authorization": "Bearer a\nb"})
    with pytest.raises(InvalidRequest) as caught:
        client.stream(bad)
    assert "Bearer" not in str(caught.value)


def test_a_stream_read_to_its_end_leaves_the_connection_for_the_next(
    script: Script, client: HttpClient
) -> None:
    for _ in range(2):
        script.chunks.put(b"one\n")
        script.chunks.put(END)
        with client.stream(request(script.url())) as answer:
            assert list(answer.lines(5)) == [b"one"]
    assert client.connections_opened() == 1
