"""HTTP reward server: OpenRLHF's ``/get_reward`` protocol and a plain JSON ``/score`` endpoint.

Public path: :mod:`vrft_rewards.serve` (``from vrft_rewards.serve import serve``) and
``vrft-rewards serve``.

Endpoints (JSON in, JSON out, UTF-8):

``POST /get_reward``
    OpenRLHF's remote reward protocol (``--reward.remote_url http://host:port/get_reward``).
    Request ``{"query": [str], "prompts": [str] (optional), "labels": [str | object] (optional)}``;
    response ``{"rewards": [float], "scores": [float], "extra_logs": {name: [float]}}``, computed
    by :class:`~vrft_rewards.integrations.openrlhf.OpenRLHFRewardFunc` (prompt stripped from the
    query, end markers removed, ``None`` -> ``none_score``).
``POST /score``
    For any trainer. Request ``{"completions": [...], <column>: [...], ...}``: every other field
    is a dataset column with one entry per completion. Response ``{"names": [str], "weights":
    [float], "overall": [float | null], "rewards": {name: [float | null]}, "metrics": {name:
    float}}``; ``null`` means "skip", ``overall`` is :class:`~vrft_rewards.rewards.RewardSet`'s
    weighted ``nansum``, and ``metrics`` holds what the rewards reported through ``log_metric``
    (TRL's callback) for this batch.
``GET /health``
    ``{"status": "ok", "task": str, "names": [...], "weights": [...]}``.

Errors are JSON ``{"error": message, "status": code}``: 400 (body not JSON, not an object,
missing or mistyped field, lengths that disagree, or a reward rejecting its input), 404 (unknown
path), 405 (wrong method; ``Allow`` says which), 411 (no ``Content-Length``), 413 (body larger
than ``max_body_bytes``), 500 (a reward failed otherwise; logged with its traceback).

Built on the standard library's ``ThreadingHTTPServer`` (one thread per request): the scoring
core releases the GIL, so concurrent requests overlap, and no web framework is needed for three
JSON routes. Each connection carries one request (HTTP/1.0 semantics), which keeps shutdown
simple: :meth:`RewardServer.stop` / ``SIGTERM`` stop accepting, then wait for in-flight requests.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from vrft_rewards.integrations._common import RESERVED_COLUMNS, MetricLog
from vrft_rewards.integrations.openrlhf import DEFAULT_EOS_TOKENS, OpenRLHFRewardFunc
from vrft_rewards.rewards.combine import RewardSet
from vrft_rewards.rewards.registry import resolve_reward_set

__all__ = ["DEFAULT_MAX_BODY_BYTES", "RewardServer", "make_server", "serve"]

#: Default request-size limit: 64 MiB (a 4096-completion detection batch is a few MiB).
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024

# After answering 413 we read (and drop) up to this much of the unread body, so that the client,
# still sending, sees our response instead of a connection reset.
_DRAIN_LIMIT = 4 * 1024 * 1024

_log = logging.getLogger("vrft_rewards.serve")  # the public module path, as before the move

_ROUTES = {"/health": ("GET",), "/score": ("POST",), "/get_reward": ("POST",)}

# TRL callback names that reward functions treat specially: never columns ("completions" is
# the request's own field).
_RESERVED = RESERVED_COLUMNS - {"completions"}


class _HTTPError(Exception):
    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def _require_list(payload: Mapping[str, Any], key: str, n: int | None, *, required: bool) -> list[Any] | None:
    if key not in payload:
        if required:
            raise _HTTPError(400, f"missing field {key!r}")
        return None
    value = payload[key]
    if not isinstance(value, list):
        raise _HTTPError(400, f"field {key!r} must be a list, got {_json_type(value)}")
    if n is not None and len(value) != n:
        raise _HTTPError(400, f"field {key!r} must have one entry per completion ({n}), got {len(value)}")
    return value


def _json_type(value: Any) -> str:
    return {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "number",
        float: "number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


class _Handler(BaseHTTPRequestHandler):
    server: RewardServer
    protocol_version = "HTTP/1.0"
    server_version = "vrft-rewards"
    #: Socket timeout (s): a client that stalls mid-request cannot hold a thread forever.
    timeout = 120

    # -- routing ---------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        try:
            allowed = _ROUTES.get(path)
            if allowed is None:
                raise _HTTPError(404, f"no endpoint {path!r}; endpoints: POST /get_reward, POST /score, GET /health")
            if method not in allowed:
                raise _HTTPError(
                    405, f"{method} is not allowed on {path}; use {', '.join(allowed)}", {"Allow": ", ".join(allowed)}
                )
            if path == "/health":
                self._send(200, self.server.health())
                return
            payload = self._read_json()
            if path == "/score":
                self._send(200, self.server.score(payload))
            else:
                self._send(200, self.server.get_reward(payload))
        except _HTTPError as e:
            self._send(e.status, {"error": e.message, "status": e.status}, e.headers)
            if e.status == 413:
                self._drain()
        except Exception as e:  # noqa: BLE001 - a failing reward must not kill the server
            _log.exception("reward server: %s %s failed", method, path)
            self._send(500, {"error": f"{type(e).__name__}: {e}", "status": 500})

    # -- I/O -------------------------------------------------------------------------------------
    def _read_json(self) -> Any:
        te = self.headers.get("Transfer-Encoding")
        if te is not None and te.strip().lower() != "identity":
            raise _HTTPError(411, "chunked request bodies are not supported; send Content-Length")
        cl = self.headers.get("Content-Length")
        if cl is None:
            raise _HTTPError(411, "missing Content-Length header")
        try:
            n = int(cl)
        except ValueError:
            raise _HTTPError(400, f"Content-Length must be an integer, got {cl!r}") from None
        if n < 0:
            raise _HTTPError(400, f"Content-Length must be >= 0, got {n}")
        if n > self.server.max_body_bytes:
            self._unread = n
            raise _HTTPError(
                413,
                f"request body of {n} bytes exceeds the limit of {self.server.max_body_bytes} "
                "bytes (--max-body-bytes); split the batch",
            )
        body = self.rfile.read(n)
        if len(body) != n:
            raise _HTTPError(400, f"request body ended after {len(body)} of {n} bytes")
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise _HTTPError(400, f"request body is not valid JSON: {e}") from None

    def _drain(self) -> None:
        left = min(getattr(self, "_unread", 0), _DRAIN_LIMIT)
        try:
            self.connection.settimeout(2.0)
            while left > 0:
                chunk = self.rfile.read(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass

    def _send(self, status: int, obj: Any, headers: Mapping[str, str] | None = None) -> None:
        try:
            body = json.dumps(obj, allow_nan=False, separators=(",", ":")).encode()
        except ValueError as e:  # a reward returned +-inf
            status, body = (
                500,
                json.dumps({"error": f"reward result is not JSON-serialisable: {e}", "status": 500}).encode(),
            )
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:  # client went away; nothing to tell it
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        _log.debug("%s - %s", self.address_string(), format % args)


class RewardServer(ThreadingHTTPServer):
    """A bound HTTP reward server (see the module docs for the protocol).

    Build it with :func:`make_server`; run it with :meth:`serve_forever` (blocking) or
    :meth:`start` (background thread, for tests and notebooks), and stop it with :meth:`stop`
    or as a context manager.
    """

    daemon_threads = False  # server_close() waits for in-flight requests (graceful shutdown)
    block_on_close = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        reward_set: RewardSet,
        *,
        task_label: str,
        max_body_bytes: int,
        openrlhf: OpenRLHFRewardFunc,
    ) -> None:
        self.reward_set = reward_set
        self.task_label = task_label
        self.max_body_bytes = max_body_bytes
        self.openrlhf = openrlhf
        self._thread: threading.Thread | None = None
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        """``http://host:port`` the server listens on (the real port when bound to port 0)."""
        host, port = self.server_address[:2]
        if ":" in str(host):
            host = f"[{host}]"
        return f"http://{host}:{port}"

    # -- endpoints ------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "task": self.task_label,
            "names": list(self.reward_set.names),
            "weights": list(self.reward_set.weights),
        }

    def score(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise _HTTPError(400, f"request body must be a JSON object, got {_json_type(payload)}")
        completions = _require_list(payload, "completions", None, required=True)
        n = len(completions)
        columns = {}
        for key in payload:
            if key in _RESERVED:
                raise _HTTPError(400, f"field {key!r} is reserved for the rewards' callbacks; rename that column")
            if key != "completions":
                columns[key] = _require_list(payload, key, n, required=True)
        log = MetricLog()
        columns["log_metric"] = log
        result = _call_reward(lambda: self.reward_set(completions, **columns))
        return {
            "names": list(result.names),
            "weights": result.weights.tolist(),
            "overall": result.column("overall"),
            "rewards": result.per_function(),
            "metrics": log.values,
        }

    def get_reward(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise _HTTPError(400, f"request body must be a JSON object, got {_json_type(payload)}")
        queries = _require_list(payload, "query", None, required=True)
        n = len(queries)
        for i, q in enumerate(queries):
            if not isinstance(q, str):
                raise _HTTPError(400, f"field 'query' must hold strings, got {_json_type(q)} at index {i}")
        prompts = _require_list(payload, "prompts", n, required=False)
        if prompts is not None:
            for i, p in enumerate(prompts):
                if not isinstance(p, str):
                    raise _HTTPError(400, f"field 'prompts' must hold strings, got {_json_type(p)} at index {i}")
        labels = _require_list(payload, "labels", n, required=False)
        extra = {k: v for k, v in payload.items() if k not in ("query", "prompts", "labels")}
        for key in _RESERVED:
            extra.pop(key, None)
        log = MetricLog() if self.openrlhf.log_metrics else None
        result = _call_reward(lambda: self.openrlhf.score(queries, prompts, labels, log_metric=log, **extra))
        return self.openrlhf.to_payload(result, as_tensors=False, metrics=log.values if log is not None else None)

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> threading.Thread:
        """Serve in a background thread; returns it. Stop with :meth:`stop`."""
        if self._thread is not None:
            raise RuntimeError("server already started")
        self._thread = threading.Thread(target=self.serve_forever, name="vrft-reward-server", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        """Stop accepting, wait for in-flight requests, close the socket. Safe to call twice."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()

    def __enter__(self) -> RewardServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _call_reward(fn: Any) -> Any:
    try:
        return fn()
    except (ValueError, TypeError, KeyError) as e:
        # The rewards raise these for payloads they cannot use (missing columns, wrong types):
        # the client's mistake, so a 400 that carries the reward's own message.
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        raise _HTTPError(400, f"{type(e).__name__}: {msg}") from None


def make_server(
    task_or_funcs: Any,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    preset_kwargs: Mapping[str, Any] | None = None,
    none_score: float = 0.0,
    label_column: str = "solution",
    eos_tokens: Sequence[str] = DEFAULT_EOS_TOKENS,
    log_metrics: bool = False,
) -> RewardServer:
    """Build and bind a reward server without starting it.

    Parameters
    ----------
    task_or_funcs : str, RewardSet, callable or list of callables
        Preset name or reward functions (see :func:`~vrft_rewards.rewards.resolve_reward_set`).
    host : str, default "127.0.0.1"
        Interface to bind; ``"0.0.0.0"`` for every interface (the server has no authentication:
        expose it only on trusted networks).
    port : int, default 8000
        TCP port; 0 picks a free one (read it back from :attr:`RewardServer.url`).
    max_body_bytes : int, default 64 MiB
        Larger requests get 413.
    preset_kwargs : dict, optional
        Options for the preset factory.
    none_score, label_column, eos_tokens, log_metrics
        ``/get_reward`` options, as in :class:`~vrft_rewards.integrations.openrlhf.OpenRLHFRewardFunc`.

    Returns
    -------
    RewardServer

    Raises
    ------
    TypeError, ValueError
        For a bad task or option (e.g. a port outside 0..65535, ``max_body_bytes`` < 1).
    OSError
        If the address cannot be bound (port in use, unknown host).

    Examples
    --------
    >>> import json, urllib.request
    >>> def ones(completions, **kwargs):
    ...     return [1.0] * len(completions)
    >>> with make_server([ones], port=0) as srv:
    ...     _ = srv.start()
    ...     req = urllib.request.Request(srv.url + "/score", data=b'{"completions": ["a"]}')
    ...     json.load(urllib.request.urlopen(req))["overall"]
    [1.0]
    """
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be an int, got {type(port).__name__}")
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be in 0..65535, got {port}")
    if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int):
        raise TypeError(f"max_body_bytes must be an int, got {type(max_body_bytes).__name__}")
    if max_body_bytes < 1:
        raise ValueError(f"max_body_bytes must be >= 1, got {max_body_bytes}")
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, got {type(host).__name__}")
    rs = resolve_reward_set(task_or_funcs, **dict(preset_kwargs or {}))
    label = task_or_funcs if isinstance(task_or_funcs, str) else "+".join(rs.names)
    openrlhf = OpenRLHFRewardFunc(
        rs,
        label_column=label_column,
        eos_tokens=eos_tokens,
        none_score=none_score,
        as_tensors=False,
        log_metrics=log_metrics,
    )
    return RewardServer((host, port), rs, task_label=label, max_body_bytes=max_body_bytes, openrlhf=openrlhf)


def serve(
    task_or_funcs: Any,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    announce: bool = True,
    **options: Any,
) -> None:
    """Run a reward server until SIGINT/SIGTERM, then finish in-flight requests and return.

    Parameters are those of :func:`make_server` (``options`` are its keyword-only ones).
    ``announce`` prints one line with the URL to stderr once the socket is bound.
    Signal handlers are installed only when called from the main thread.
    """
    server = make_server(task_or_funcs, host, port, max_body_bytes=max_body_bytes, **options)
    previous: dict[int, Any] = {}

    def on_signal(signum: int, frame: Any) -> None:
        # shutdown() blocks until serve_forever returns, and serve_forever runs in this very
        # thread: ask from another thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        if announce:
            print(
                f"vrft-rewards: serving {server.task_label} at {server.url} "
                "(POST /get_reward, POST /score, GET /health)",
                file=sys.stderr,
                flush=True,
            )
        server.serve_forever()
    finally:
        server.server_close()  # waits for in-flight request threads
        for sig, handler in previous.items():
            signal.signal(sig, handler)
