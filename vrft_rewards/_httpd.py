"""A small HTTP/1.0 server for JSON endpoints that holds bursts, floods and slow clients.

One thread accepts connections and reads requests (``selectors``, non-blocking sockets) until each
is complete: the header block, then exactly ``Content-Length`` body bytes into one buffer.  Only
complete requests go to a fixed pool of worker threads, which run :meth:`HTTPServer.handle` and
write the response; a slow or stalled client therefore never holds a worker.  Limits, all set by
:class:`Limits`:

* ``backlog``: the listen queue (a burst of connections waits there instead of being reset);
* ``workers``: threads that handle complete requests;
* ``max_connections``: connections open at once (being read, queued or handled); beyond it a
  connection gets ``503`` with a JSON message and ``Retry-After`` at once;
* ``read_timeout``: one deadline for the whole request, counted from accept (a client trickling a
  byte at a time is cut off at it with ``408``, which a per-``recv`` timeout never does);
* ``shutdown_timeout``: how long :meth:`HTTPServer.server_close` waits for requests being handled;
  requests still arriving are dropped at once;
* ``max_body_bytes`` / ``max_header_bytes``: larger requests get ``413`` / ``431``.

Requests are framed by :mod:`vrft_rewards._http_messages` (strict ``Content-Length``); each
connection carries one request (``Connection: close``).
"""

from __future__ import annotations

import collections
import errno
import logging
import queue
import selectors
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

from ._http_messages import FramingError, Request, Response, content_length, encode, error_response, parse_head

__all__ = ["HTTPServer", "Limits"]

_log = logging.getLogger("vrft_rewards.serve")

_READ_CHUNK = 1 << 20  # bytes per recv of a body
_DRAIN_SECONDS = 1.0  # how long an answered-but-unread connection is read and dropped
_DRAIN_LIMIT = 4 << 20  # and at most this much of it


@dataclass(frozen=True)
class Limits:
    """How much one server takes on (see the module docs)."""

    backlog: int = 1024
    workers: int = 8
    max_connections: int = 1024
    read_timeout: float = 30.0
    shutdown_timeout: float = 10.0
    max_body_bytes: int = 64 * 1024 * 1024
    max_header_bytes: int = 64 * 1024


class _Conn:
    __slots__ = (
        "sock",
        "deadline",
        "buf",
        "scanned",
        "head",
        "body",
        "view",
        "got",
        "state",
        "counted",
        "registered",
        "drained",
    )

    def __init__(self, sock: socket.socket, deadline: float, counted: bool = True) -> None:
        self.sock, self.deadline, self.counted = sock, deadline, counted
        self.buf = bytearray()  # the header block while it is read
        self.scanned = 0
        self.head: Optional[tuple] = None
        self.body: Optional[bytearray] = None
        self.view: Optional[memoryview] = None
        self.got = 0
        self.state = "reading"  # -> "handling" | "draining" -> "closed"
        self.registered = False  # with the selector
        self.drained = 0


class HTTPServer:
    """Binds ``address`` and serves :meth:`handle` with the given :class:`Limits`.

    :meth:`serve_forever` runs the reader in the calling thread, :meth:`start` in a background
    thread; :meth:`shutdown` stops it, :meth:`server_close` waits for requests being handled (up
    to ``shutdown_timeout``) and closes everything; :meth:`stop` does both.
    """

    def __init__(self, address: tuple, limits: Limits) -> None:
        self.limits = limits
        host, port = address[:2]
        family, kind, proto, _, sockaddr = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)[
            0
        ]
        self.socket = socket.socket(family, kind, proto)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind(sockaddr)
            self.socket.listen(limits.backlog)
            self.socket.setblocking(False)
        except BaseException:
            self.socket.close()
            raise
        self.server_address = self.socket.getsockname()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)  # a wake-up from a signal handler must never block
        self._selector.register(self.socket, selectors.EVENT_READ, "accept")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._reading: collections.deque = collections.deque()  # by deadline (= accept order)
        self._draining: collections.deque = collections.deque()
        self._lock = threading.Condition()
        self._open = 0  # accepted, not yet closed (reading, queued, handled)
        self._handling: set = set()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._workers: list = []
        self._stop = False
        self._accept_paused_until = 0.0
        self._loop_done = threading.Event()
        self._loop_done.set()
        self._closed = False
        self._thread: Optional[threading.Thread] = None

    # -- to override ---------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:  # pragma: no cover - overridden
        """The response to a complete request (called in a worker thread; must not raise)."""
        return error_response(404, "no endpoints")

    # -- lifecycle -----------------------------------------------------------------------------
    def serve_forever(self) -> None:
        """Accept and read requests until :meth:`shutdown`."""
        self._loop_done.clear()
        try:
            self._start_workers()
            while not self._stop:
                for key, _ in self._selector.select(self._select_timeout()):
                    if key.data == "accept":
                        self._accept()
                    elif key.data == "wake":
                        self._drain_wakeups()
                    else:
                        self._on_readable(key.data)
                self._expire(time.monotonic())
        finally:
            self._stop_reading()
            self._loop_done.set()

    def start(self) -> threading.Thread:
        """Serve in a background thread; returns it.  Stop with :meth:`stop`."""
        if self._thread is not None:
            raise RuntimeError("server already started")
        self._loop_done.clear()  # from now on, shutdown() and server_close() wait for the loop
        self._thread = threading.Thread(target=self.serve_forever, name="vrft-reward-server", daemon=True)
        self._thread.start()
        return self._thread

    def request_shutdown(self) -> None:
        """Ask :meth:`serve_forever` to return (safe from a signal handler; does not wait)."""
        self._stop = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def shutdown(self) -> None:
        """Stop accepting and reading; waits until :meth:`serve_forever` has returned."""
        self.request_shutdown()
        self._loop_done.wait()

    def server_close(self) -> None:
        """Wait up to ``shutdown_timeout`` for requests being handled, then close everything."""
        if self._closed:
            return
        self._closed = True
        self.request_shutdown()
        self._loop_done.wait()
        deadline = time.monotonic() + self.limits.shutdown_timeout
        with self._lock:
            while self._handling and time.monotonic() < deadline:
                self._lock.wait(max(0.0, deadline - time.monotonic()))
            late = list(self._handling)
        for conn in late:  # past the deadline: their clients get a closed connection
            _shutdown_quietly(conn.sock)
        for _ in self._workers:
            self._queue.put(None)
        for s in (self.socket, self._wake_r, self._wake_w):
            s.close()
        self._selector.close()

    def stop(self) -> None:
        """:meth:`shutdown` then :meth:`server_close`; safe to call twice."""
        self.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> "HTTPServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- the reader ----------------------------------------------------------------------------
    def _start_workers(self) -> None:
        while len(self._workers) < self.limits.workers:
            t = threading.Thread(target=self._work, name=f"vrft-reward-worker-{len(self._workers)}", daemon=True)
            t.start()
            self._workers.append(t)

    def _select_timeout(self) -> float:
        now = time.monotonic()
        timeout = 1.0
        for q in (self._reading, self._draining):
            if q:
                timeout = min(timeout, q[0].deadline - now)
        if self._accept_paused_until:
            timeout = min(timeout, self._accept_paused_until - now)
        return max(0.0, timeout)

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass

    def _accept(self) -> None:
        for _ in range(256):  # a bounded batch, so that clients being read are not starved
            try:
                sock, _ = self.socket.accept()
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    _log.warning("reward server: cannot accept (%s); pausing for 0.1 s", e)
                    self._selector.unregister(self.socket)
                    self._accept_paused_until = time.monotonic() + 0.1
                    return
                continue  # e.g. ECONNABORTED: that client is gone
            sock.setblocking(False)
            with self._lock:
                refused = self._open >= self.limits.max_connections
                if not refused:
                    self._open += 1
            if refused:
                self._refuse(sock)
                continue
            conn = _Conn(sock, time.monotonic() + self.limits.read_timeout)
            if self._read(conn):  # most requests are there already: no selector round trip
                self._selector.register(sock, selectors.EVENT_READ, conn)
                conn.registered = True
                self._reading.append(conn)

    def _refuse(self, sock: socket.socket) -> None:
        n = self.limits.max_connections
        message = f"server busy: too many open connections (max_connections={n}); retry later"
        self._answer(_Conn(sock, 0.0, counted=False), error_response(503, message, {"Retry-After": "1"}))

    def _on_readable(self, conn: _Conn) -> None:
        if conn.state == "draining":
            self._drain(conn)
        elif conn.state == "reading":
            self._read(conn)

    def _read(self, conn: _Conn) -> bool:
        """Read what has arrived; False once the connection left the reading state."""
        try:
            for _ in range(16):  # bounded: one fast sender cannot monopolise the reader
                if conn.head is None:
                    data = conn.sock.recv(65536)
                    if not data:
                        self._close(conn)
                        return False
                    conn.buf += data
                    end = conn.buf.find(b"\r\n\r\n", max(0, conn.scanned - 3))
                    conn.scanned = len(conn.buf)
                    if max(end, len(conn.buf) if end < 0 else 0) > self.limits.max_header_bytes:
                        raise FramingError(431, f"request headers exceed {self.limits.max_header_bytes} bytes")
                    if end < 0:
                        continue
                    self._start_body(conn, end)
                else:
                    n = conn.sock.recv_into(conn.view[conn.got :], min(_READ_CHUNK, len(conn.view) - conn.got))
                    if n == 0:
                        raise FramingError(400, f"request body ended after {conn.got} of {len(conn.view)} bytes")
                    conn.got += n
                if conn.got == len(conn.view):
                    self._dispatch(conn)
                    return False
        except BlockingIOError:
            return True
        except FramingError as e:
            self._answer(conn, e.response)
            return False
        except OSError:
            self._close(conn)
            return False
        return True

    def _start_body(self, conn: _Conn, end: int) -> None:
        method, path, headers, lengths = parse_head(bytes(conn.buf[:end]))
        te = headers.get("transfer-encoding")
        if te is not None and te.lower() != "identity":
            raise FramingError(411, "chunked request bodies are not supported; send Content-Length")
        n = content_length(lengths)
        if n > self.limits.max_body_bytes:
            raise FramingError(
                413,
                f"request body of {n} bytes exceeds the limit of {self.limits.max_body_bytes} bytes "
                "(--max-body-bytes); split the batch",
            )
        conn.head = (method, path, headers)
        got = conn.buf[end + 4 : end + 4 + n]  # what came with the headers
        conn.body = bytearray(n)  # the one buffer the body is read into
        conn.body[: len(got)] = got
        conn.view = memoryview(conn.body)
        conn.got = len(got)
        conn.buf = bytearray()

    def _dispatch(self, conn: _Conn) -> None:
        self._unregister(conn)
        conn.state = "handling"
        conn.view.release()
        conn.view = None
        with self._lock:
            self._handling.add(conn)
        self._queue.put(conn)

    def _answer(self, conn: _Conn, response: Response) -> None:
        """Answer from the reader (a small response into an empty send buffer), then drain: read
        and drop what the client still sends for a while, so that it reads the answer instead of
        a connection reset.  Refused connections are drained too, unless too many already are."""
        try:
            conn.sock.send(encode(response))
        except OSError:
            pass
        _log.debug("refused with %d", response[0])
        if not conn.counted and len(self._draining) > self.limits.max_connections:
            self._close(conn)
            return
        _shutdown_quietly(conn.sock, socket.SHUT_WR)
        conn.state = "draining"
        conn.deadline = time.monotonic() + _DRAIN_SECONDS
        conn.buf, conn.body, conn.view = bytearray(), None, None
        try:
            if conn.registered:
                self._selector.modify(conn.sock, selectors.EVENT_READ, conn)
            else:
                self._selector.register(conn.sock, selectors.EVENT_READ, conn)
                conn.registered = True
        except (KeyError, ValueError, OSError):
            self._close(conn)
            return
        self._draining.append(conn)

    def _drain(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        conn.drained += len(data)
        if not data or conn.drained > _DRAIN_LIMIT:
            self._close(conn)

    def _expire(self, now: float) -> None:
        while self._reading and self._reading[0].deadline <= now:
            conn = self._reading.popleft()
            if conn.state == "reading":
                self._answer(conn, error_response(408, f"request not received within {self.limits.read_timeout:g} s"))
        while self._draining and self._draining[0].deadline <= now:
            conn = self._draining.popleft()
            if conn.state == "draining":
                self._close(conn)
        if self._accept_paused_until and now >= self._accept_paused_until:
            self._accept_paused_until = 0.0
            self._selector.register(self.socket, selectors.EVENT_READ, "accept")

    def _unregister(self, conn: _Conn) -> None:
        if conn.registered:
            conn.registered = False
            try:
                self._selector.unregister(conn.sock)
            except (KeyError, ValueError):
                pass

    def _close(self, conn: _Conn) -> None:
        """Close a connection the reader owns (reading or draining)."""
        if conn.state == "closed":
            return
        self._unregister(conn)
        conn.state = "closed"
        _close_quietly(conn.sock)
        if conn.counted:
            with self._lock:
                self._open -= 1

    def _stop_reading(self) -> None:
        """The loop is over: requests still arriving and drains are dropped; the listener closes."""
        for conn in list(self._reading) + list(self._draining):
            if conn.state in ("reading", "draining"):
                self._close(conn)
        self._reading.clear()
        self._draining.clear()
        try:
            self._selector.unregister(self.socket)
        except (KeyError, ValueError):
            pass
        self.socket.close()

    # -- the workers ---------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            conn = self._queue.get()
            if conn is None:
                return
            try:
                method, path, headers = conn.head
                request = Request(method, path, headers, conn.body)
                conn.body = None
                response = self.handle(request)
                del request  # the body may be large: let it go before writing
                conn.sock.settimeout(self.limits.read_timeout)  # blocking, with a write deadline
                conn.sock.sendall(encode(response))
                _shutdown_quietly(conn.sock, socket.SHUT_WR)
                # `vrft-rewards serve --log-level DEBUG` logs every request (its documented promise).
                _log.debug('"%s %s" %d, %d bytes', method, path, response[0], len(response[2]))
            except OSError:
                pass  # the client went away
            except Exception:  # noqa: BLE001 - handle() must not raise; never lose a worker
                _log.exception("reward server: a request failed outside its handler")
            finally:
                _close_quietly(conn.sock)
                with self._lock:
                    self._open -= 1
                    self._handling.discard(conn)
                    self._lock.notify_all()


def _shutdown_quietly(sock: socket.socket, how: int = socket.SHUT_RDWR) -> None:
    try:
        sock.shutdown(how)
    except OSError:
        pass


def _close_quietly(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass
