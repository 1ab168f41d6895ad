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
missing or mistyped field, lengths that disagree, a reward rejecting its input, or a malformed
request: ``Content-Length`` that is not plain digits), 404 (unknown path), 405 (wrong method;
``Allow`` says which), 408 (request not received within ``read_timeout``), 411 (no
``Content-Length``), 413 (body larger than ``max_body_bytes``, or holding more than
``max_json_values`` JSON values), 431 (headers over 64 KiB), 500 (a reward failed otherwise; logged
with its traceback), 503 (more than ``max_connections`` connections open; ``Retry-After: 1``).

Built on :mod:`vrft_rewards._httpd` (standard library only): one thread accepts and reads requests
until they are complete, a fixed pool of ``workers`` threads scores them (the scoring core releases
the GIL, so concurrent requests overlap).  A burst waits in the ``backlog``, slow clients never hold
a worker, each request must arrive within ``read_timeout``, and :meth:`RewardServer.stop` /
``SIGTERM`` drop requests still arriving and wait up to ``shutdown_timeout`` for those being
scored.  Each connection carries one request (HTTP/1.0 semantics).  docs/reliability.md has the
limits and their reasons.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import logging
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from vrft_rewards._http_messages import Request, Response, error_response
from vrft_rewards._httpd import HTTPServer, Limits
from vrft_rewards.integrations._common import RESERVED_COLUMNS, MetricLog
from vrft_rewards.integrations.openrlhf import DEFAULT_EOS_TOKENS, OpenRLHFRewardFunc
from vrft_rewards.rewards.combine import RewardSet
from vrft_rewards.rewards.registry import resolve_reward_set

__all__ = ["DEFAULT_MAX_BODY_BYTES", "DEFAULT_MAX_JSON_VALUES", "RewardServer", "make_server", "serve"]

#: Default request-size limit: 64 MiB (a 4096-completion detection batch is a few MiB).
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
#: Default limit on the JSON values of a body (counted as its ``,`` ``[`` ``{`` bytes, an upper
#: bound found before parsing): a 4096-completion batch of chat messages has ~50,000; each value
#: costs 50-100 bytes once parsed, so no request holds more than ~100 MB.
DEFAULT_MAX_JSON_VALUES = 1_000_000
_DEFAULTS = Limits()

# After a body this large, collect garbage and give freed memory back to the system.
_LARGE_BODY = 1 << 20

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


def _json_response(status: int, obj: Any) -> Response:
    try:
        return status, {}, json.dumps(obj, allow_nan=False, separators=(",", ":")).encode()
    except ValueError as e:  # a reward returned +-inf
        return error_response(500, f"reward result is not JSON-serialisable: {e}")


def _release_memory() -> None:
    """After a large request: break what reference cycles hold, and hand freed heap back (glibc)."""
    gc.collect()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _find_malloc_trim() -> Any:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): freed memory is the allocator's
        return None


_MALLOC_TRIM = _find_malloc_trim()


class RewardServer(HTTPServer):
    """A bound HTTP reward server (see the module docs for the protocol).

    Build it with :func:`make_server`; run it with :meth:`serve_forever` (blocking) or
    :meth:`start` (background thread, for tests and notebooks), and stop it with :meth:`stop`
    or as a context manager.
    """

    def __init__(
        self,
        address: tuple[str, int],
        reward_set: RewardSet,
        *,
        task_label: str,
        openrlhf: OpenRLHFRewardFunc,
        limits: Limits = _DEFAULTS,
        max_json_values: int = DEFAULT_MAX_JSON_VALUES,
    ) -> None:
        self.reward_set = reward_set
        self.task_label = task_label
        self.openrlhf = openrlhf
        self.max_json_values = max_json_values
        super().__init__(address, limits)

    @property
    def max_body_bytes(self) -> int:
        return self.limits.max_body_bytes

    @property
    def url(self) -> str:
        """``http://host:port`` the server listens on (the real port when bound to port 0)."""
        host, port = self.server_address[:2]
        if ":" in str(host):
            host = f"[{host}]"
        return f"http://{host}:{port}"

    # -- requests -------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        size = len(request.body)
        try:
            return self._route(request)
        except _HTTPError as e:
            return error_response(e.status, e.message, e.headers)
        except Exception as e:  # noqa: BLE001 - a failing reward must not kill the server
            _log.exception("reward server: %s %s failed", request.method, request.path)
            return error_response(500, f"{type(e).__name__}: {e}")
        finally:
            if size >= _LARGE_BODY:
                request.body = bytearray()
                _release_memory()

    def _route(self, request: Request) -> Response:
        path, method = request.path, request.method
        allowed = _ROUTES.get(path)
        if allowed is None:
            raise _HTTPError(404, f"no endpoint {path!r}; endpoints: POST /get_reward, POST /score, GET /health")
        if method not in allowed:
            raise _HTTPError(
                405, f"{method} is not allowed on {path}; use {', '.join(allowed)}", {"Allow": ", ".join(allowed)}
            )
        if path == "/health":
            return _json_response(200, self.health())
        payload = self._read_json(request)
        request.body = bytearray()  # parsed: the raw bytes are not needed any more
        return _json_response(200, self.score(payload) if path == "/score" else self.get_reward(payload))

    def _read_json(self, request: Request) -> Any:
        if "content-length" not in request.headers:
            raise _HTTPError(411, "missing Content-Length header")
        body = request.body
        # Containers and values cost 50-100 bytes each once parsed, whatever their size in the
        # body ("[]," is 3 bytes): bound them before parsing (an upper bound: commas in strings
        # count too).
        values = body.count(b",") + body.count(b"[") + body.count(b"{")
        if values > self.max_json_values:
            raise _HTTPError(
                413,
                f"request body holds up to {values} JSON values, more than the limit of "
                f"{self.max_json_values} (--max-json-values); split the batch",
            )
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise _HTTPError(400, f"request body is not valid JSON: {e}") from None

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


def _call_reward(fn: Any) -> Any:
    try:
        return fn()
    except (ValueError, TypeError, KeyError) as e:
        # The rewards raise these for payloads they cannot use (missing columns, wrong types):
        # the client's mistake, so a 400 that carries the reward's own message.
        message = f"{type(e).__name__}: {e.args[0] if isinstance(e, KeyError) and e.args else e}"
    # Raised after the except clause, and never stored in a local of this frame: otherwise the
    # error's context (the reward's exception) or the error itself would reach this frame through
    # a traceback, and the frame would reach them back -- a reference cycle keeping `fn`, and with
    # it the whole parsed request, alive until a full garbage collection.
    raise _HTTPError(400, message)


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
    backlog: int = _DEFAULTS.backlog,
    workers: int = _DEFAULTS.workers,
    max_connections: int = _DEFAULTS.max_connections,
    read_timeout: float = _DEFAULTS.read_timeout,
    shutdown_timeout: float = _DEFAULTS.shutdown_timeout,
    max_json_values: int = DEFAULT_MAX_JSON_VALUES,
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
    backlog : int, default 1024
        Listen queue: connections of a burst wait there (capped by the kernel's
        ``net.core.somaxconn``).
    workers : int, default 8
        Threads that score complete requests.
    max_connections : int, default 1024
        Connections open at once (being received, queued or scored); more get 503 at once.
    read_timeout : float, default 30
        Seconds a client has to send its whole request (408 after), and to read the response.
    shutdown_timeout : float, default 10
        Seconds :meth:`RewardServer.stop` / SIGTERM wait for requests being scored.
    max_json_values : int, default 1,000,000
        Bodies with more JSON values (counted as ``,`` ``[`` ``{`` bytes) get 413 before parsing.

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
    for name, value in (
        ("max_body_bytes", max_body_bytes),
        ("backlog", backlog),
        ("workers", workers),
        ("max_connections", max_connections),
        ("max_json_values", max_json_values),
    ):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    for name, value in (("read_timeout", read_timeout), ("shutdown_timeout", shutdown_timeout)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value}")
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
    limits = Limits(
        backlog=backlog,
        workers=workers,
        max_connections=max_connections,
        read_timeout=float(read_timeout),
        shutdown_timeout=float(shutdown_timeout),
        max_body_bytes=max_body_bytes,
    )
    return RewardServer(
        (host, port), rs, task_label=label, openrlhf=openrlhf, limits=limits, max_json_values=max_json_values
    )


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
    ``announce`` prints one line with the URL to stderr once the socket is bound.  On a signal,
    requests still arriving are dropped and those being scored get ``shutdown_timeout`` seconds.
    Signal handlers are installed only when called from the main thread.
    """
    server = make_server(task_or_funcs, host, port, max_body_bytes=max_body_bytes, **options)
    previous: dict[int, Any] = {}

    def on_signal(signum: int, frame: Any) -> None:
        server.request_shutdown()  # serve_forever (this very thread) returns at its next turn

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
        server.server_close()  # waits up to shutdown_timeout for requests being scored
        for sig, handler in previous.items():
            signal.signal(sig, handler)
