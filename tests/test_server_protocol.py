"""The server's HTTP protocol: answers of one turn go out in one write per connection.

Driven as uvicorn drives it (its Config and ServerState, a real event loop), on
transports that record what reaches the socket."""

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import uvloop
from uvicorn.config import Config
from uvicorn.server import ServerState

from app.server_protocol import (
    HOLD_AT_MOST_BYTES,
    TurnWrites,
    TurnWritesProtocol,
    TurnWritesTransport,
)
from tests.aio import run_async

GET = b"GET /%s HTTP/1.1\r\nHost: example.org\r\n\r\n"
GET_THEN_CLOSE = b"GET /%s HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n"


class SocketTransport(asyncio.Transport):
    """What the protocol writes, as the socket would get it: one entry per system call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[bytes] = []
        self.closed = False
        self.aborted = False
        self.fail_writes = False
        self.calls_before_eof: int | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._check_open()
        self.calls.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        self._check_open()
        self.calls.append(b"".join(chunks))

    def _check_open(self) -> None:
        if self.closed or self.fail_writes:
            raise RuntimeError("unable to perform operation: the handler is closed")

    @property
    def received(self) -> bytes:
        return b"".join(self.calls)

    def write_eof(self) -> None:
        self.calls_before_eof = len(self.calls)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000),
                "peername": ("127.0.0.1", 50000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


def answer(name: str) -> bytes:
    return f"answer of {name}".encode()


class Server:
    """Connections to one uvicorn server (one per name) whose app answers GET /<name>
    with body_of(name). `seen[name]`: what had reached that socket when the app had sent
    its answer; then `on_answered(name)` runs."""

    def __init__(self, names: list[str], body_of: Callable[[str], bytes] = answer) -> None:
        self.body_of = body_of
        self.seen: dict[str, bytes] = {}
        self.on_answered: Callable[[str], None] = lambda name: None
        # log_config=None: uvicorn's own logging set-up would outlive the test.
        config = Config(app=self.app, http=TurnWritesProtocol, interface="asgi3",
                        lifespan="off", log_config=None)
        state = ServerState()
        self.protocols: dict[str, TurnWritesProtocol] = {}
        self.sockets: dict[str, SocketTransport] = {}
        for name in names:
            self.sockets[name] = SocketTransport()
            self.protocols[name] = TurnWritesProtocol(config=config, server_state=state,
                                                      app_state={})
            self.protocols[name].connection_made(self.sockets[name])

    def request(self, name: str, template: bytes = GET) -> None:
        self.protocols[name].data_received(template % name.encode())

    async def app(self, scope: dict, receive: Any, send: Any) -> None:
        name = scope["path"].strip("/")
        body = self.body_of(name)
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
        self.seen[name] = self.sockets[name].received
        self.on_answered(name)


async def turns(count: int = 5) -> None:
    """Lets the loop run a few turns: the requests', then the end-of-turn writes."""
    for _ in range(count):
        await asyncio.sleep(0)


def serve(names: list[str], requests: dict[str, bytes] | None = None,
          body_of: Callable[[str], bytes] = answer,
          before: Callable[[Server], None] = lambda server: None) -> Server:
    """A server whose connections each get one request in the same turn (GET unless
    `requests` says otherwise), on a loop of its own (see tests/aio.py)."""

    async def scenario() -> Server:
        server = Server(names, body_of)
        before(server)
        for name in names:
            server.request(name, (requests or {}).get(name, GET))
        await turns()
        return server

    return run_async(scenario())


class TestTurnWritesProtocol:
    def test_answers_of_one_turn_go_out_in_one_write_per_connection(self) -> None:
        server = serve(["a", "b", "c"])
        for name, socket in server.sockets.items():
            assert server.seen[name] == b""  # held while the others were being answered
            assert len(socket.calls) == 1
            head, _, body = socket.calls[0].partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert body == answer(name)

    def test_a_lone_request_is_answered_at_once(self) -> None:
        server = serve(["a"])
        assert server.seen["a"].startswith(b"HTTP/1.1 200 OK\r\n")
        assert server.seen["a"].endswith(b"\r\n\r\n" + answer("a"))

    def test_a_held_answer_is_delivered_before_its_connection_closes(self) -> None:
        server = serve(["a", "b"], requests={"b": GET_THEN_CLOSE})
        assert server.sockets["b"].closed
        assert server.sockets["b"].received.endswith(b"\r\n\r\n" + answer("b"))
        assert server.sockets["a"].received.endswith(b"\r\n\r\n" + answer("a"))
        assert not server.sockets["a"].closed

    def test_a_large_body_goes_out_at_once_after_the_held_head(self) -> None:
        large = b"x" * (HOLD_AT_MOST_BYTES + 1)
        server = serve(["big", "small"],
                       body_of=lambda name: large if name == "big" else answer(name))
        head, _, body = server.seen["big"].partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert body == large
        assert server.sockets["small"].received.endswith(answer("small"))

    def test_the_answers_of_a_lost_connection_are_dropped_and_the_others_delivered(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        def hang_up_a_before_the_turn_ends(server: Server) -> None:
            # Once the last answer is sent: every answer is held, none yet written.
            server.on_answered = lambda name: server.sockets["a"].close() if name == "c" else None

        with caplog.at_level(logging.ERROR):
            server = serve(["a", "b", "c"], before=hang_up_a_before_the_turn_ends)
        assert server.sockets["a"].calls == []
        assert server.sockets["b"].received.endswith(answer("b"))
        assert server.sockets["c"].received.endswith(answer("c"))
        assert not caplog.records

    def test_a_held_answer_is_delivered_to_a_client_that_half_closed(self) -> None:
        def half_close_b_before_the_turn_ends(server: Server) -> None:
            def eof_of_b(name: str) -> None:
                if name == "c":
                    # As uvloop does on reading the client's FIN: the protocol is told,
                    # and the socket closed as soon as it has been.
                    server.protocols["b"].eof_received()
                    server.sockets["b"].close()
            server.on_answered = eof_of_b

        server = serve(["a", "b", "c"], before=half_close_b_before_the_turn_ends)
        assert server.sockets["b"].received.endswith(b"\r\n\r\n" + answer("b"))

    def test_a_connection_that_fails_to_write_is_aborted_and_holds_back_no_other(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        def fail_a_s_writes(server: Server) -> None:
            server.sockets["a"].fail_writes = True

        with caplog.at_level(logging.ERROR, logger="app.server_protocol"):
            server = serve(["a", "b"], before=fail_a_s_writes)
        assert server.sockets["a"].aborted
        assert server.sockets["b"].received.endswith(answer("b"))
        assert "aborted" in caplog.text


class TestTurnWritesTransport:
    """The transport's own promises, with two requests in progress unless said."""

    @staticmethod
    def held(*names: str) -> tuple[dict[str, SocketTransport], dict[str, TurnWritesTransport],
                                   set[object]]:
        in_progress: set[object] = {object(), object()}
        turn_writes = TurnWrites()
        sockets = {name: SocketTransport() for name in names}
        transports = {name: TurnWritesTransport(socket, turn_writes, in_progress)
                      for name, socket in sockets.items()}
        return sockets, transports, in_progress

    def test_a_lone_write_goes_out_after_what_the_others_hold(self) -> None:
        async def scenario() -> tuple[list[bytes], list[bytes]]:
            sockets, transports, in_progress = self.held("a", "b")
            transports["a"].write(b"held")
            in_progress.pop()
            transports["b"].write(b"lone")
            return sockets["a"].calls[:], sockets["b"].calls[:]

        assert run_async(scenario()) == ([b"held"], [b"lone"])

    def test_writelines_is_held_and_goes_out_in_one_write(self) -> None:
        async def scenario() -> tuple[list[bytes], list[bytes]]:
            sockets, transports, _ = self.held("a")
            transports["a"].writelines([b"head ", b"body"])
            before_the_turn_ends = sockets["a"].calls[:]
            await turns()
            return before_the_turn_ends, sockets["a"].calls

        assert run_async(scenario()) == ([], [b"head body"])

    def test_write_eof_sends_what_is_held_first(self) -> None:
        async def scenario() -> tuple[list[bytes], int | None]:
            sockets, transports, _ = self.held("a")
            transports["a"].write(b"answer")
            transports["a"].write_eof()
            await turns()
            return sockets["a"].calls, sockets["a"].calls_before_eof

        assert run_async(scenario()) == ([b"answer"], 1)

    def test_abort_drops_what_is_held(self) -> None:
        async def scenario() -> tuple[list[bytes], bool]:
            sockets, transports, _ = self.held("a")
            transports["a"].write(b"answer")
            transports["a"].abort()
            await turns()
            return sockets["a"].calls, sockets["a"].aborted

        assert run_async(scenario()) == ([], True)


class TestOnUvloop:
    """The protocol as production runs it: uvloop, real sockets, many clients at once."""

    CLIENTS = 20
    REQUESTS_EACH = 5
    LARGE = bytes(range(256)) * ((HOLD_AT_MOST_BYTES // 256) + 10)

    async def app(self, scope: dict, receive: Any, send: Any) -> None:
        body = self.LARGE if scope["path"] == "/large" else scope["path"].encode() * 3
        await asyncio.sleep(0)  # the other clients' requests meanwhile
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def client(self, port: int, number: int) -> list[tuple[str, str, bytes, bytes]]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        answers = []
        for request in range(self.REQUESTS_EACH):
            path = "/large" if request == 2 else f"/c{number}r{request}"
            method = "HEAD" if request == 3 else "GET"
            writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            body = b"" if method == "HEAD" else await reader.readexactly(length)
            answers.append((method, path, head, body))
        writer.close()
        return answers

    async def scenario(self) -> list[list[tuple[str, str, bytes, bytes]]]:
        config = Config(app=self.app, http=TurnWritesProtocol, interface="asgi3",
                        lifespan="off", log_config=None)
        config.load()
        state = ServerState()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: TurnWritesProtocol(config=config, server_state=state, app_state={}),
            "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            return await asyncio.gather(*(self.client(port, n) for n in range(self.CLIENTS)))
        finally:
            server.close()

    def test_every_answer_arrives_whole_and_in_order(self) -> None:
        with ThreadPoolExecutor(max_workers=1) as pool:  # a loop of its own (tests/aio.py)
            clients = pool.submit(uvloop.run, self.scenario()).result(timeout=60)
        for answers in clients:
            assert len(answers) == self.REQUESTS_EACH
            for method, path, head, body in answers:
                assert head.startswith(b"HTTP/1.1 200 OK\r\n")
                if method == "HEAD":
                    assert body == b""
                elif path == "/large":
                    assert body == self.LARGE
                else:
                    assert body == path.encode() * 3  # its own answer, in the order asked
