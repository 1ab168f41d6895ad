"""HTTP reward server: real requests over loopback (127.0.0.1), every route and error path."""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor

import pytest

from _toy_rewards import TOY_SET, MetricReward, length_score, needs_label, random_batch
from vrft_rewards.integrations.openrlhf import make_reward_func
from vrft_rewards.rewards import RewardSet
from vrft_rewards.serve import RewardServer, make_server


def request(
    server: RewardServer,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict | None = None,
    *,
    raw_headers: bool = False,
):
    """One request on a fresh connection; returns (status, headers, parsed JSON body)."""
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        if raw_headers:  # send exactly the given headers (e.g. no Content-Length)
            conn.putrequest(method, path, skip_accept_encoding=True)
            for k, v in (headers or {}).items():
                conn.putheader(k, v)
            conn.endheaders()
            if body:
                conn.send(body)
        else:
            conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, dict(resp.getheaders()), json.loads(data) if data else None
    finally:
        conn.close()


def post(server, path, obj):
    return request(server, "POST", path, json.dumps(obj).encode(), {"Content-Type": "application/json"})


class Boom:
    __name__ = "boom"

    def __call__(self, completions, **kwargs):
        raise RuntimeError("reward crashed")


def inf_reward(completions, **kwargs):
    return [float("inf")] * len(completions)


@pytest.fixture(scope="module")
def server():
    srv = make_server(TOY_SET, "127.0.0.1", 0, max_body_bytes=64 * 1024)
    srv.start()
    yield srv
    srv.stop()


# -- happy paths -----------------------------------------------------------------------------------
def test_health(server):
    status, headers, body = request(server, "GET", "/health")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert body == {
        "status": "ok",
        "task": "char_overlap+length_score+prefix_reward",
        "names": list(TOY_SET.names),
        "weights": list(TOY_SET.weights),
    }


def test_score_equals_in_process_scoring(server):
    completions, solution = random_batch(11, 100)
    status, _, body = post(server, "/score", {"completions": completions, "solution": solution})
    assert status == 200
    want = TOY_SET(completions, solution=solution)
    assert body == {
        "names": list(want.names),
        "weights": want.weights.tolist(),
        "overall": want.column("overall"),
        "rewards": want.per_function(),
        "metrics": {},
    }
    assert None in body["overall"] or None in body["rewards"]["char_overlap"]  # nulls made it through


def test_get_reward_speaks_openrlhf_protocol(server):
    completions, solution = random_batch(12, 50)
    prompts = [f"<|im_start|>user\nq{i}<|im_end|>\n<|im_start|>assistant\n" for i in range(50)]
    queries = [p + c + "<|im_end|>" for p, c in zip(prompts, completions)]
    status, _, body = post(server, "/get_reward", {"query": queries, "prompts": prompts, "labels": solution})
    assert status == 200
    assert body == make_reward_func(TOY_SET, as_tensors=False)(queries, prompts, solution)
    assert set(body) == {"rewards", "scores", "extra_logs"} and len(body["rewards"]) == 50


def test_get_reward_without_prompts_and_labels(server):
    status, _, body = post(server, "/get_reward", {"query": ["abcdefgh"]})
    # no labels -> char_overlap has no solution column: the reward raises, the client gets 400
    assert status == 400 and "solution" in body["error"]


def test_metrics_reported_by_rewards_come_back():
    with make_server(RewardSet([MetricReward()]), port=0, log_metrics=True) as srv:
        srv.start()
        status, _, body = post(srv, "/score", {"completions": ["ab", "abcd"]})
        assert status == 200 and body["metrics"] == {"toy/mean_len": 3.0}
        status, _, body = post(srv, "/get_reward", {"query": ["ab", "abcd"], "log_metric": [1, 2]})
        assert status == 200
        assert body["extra_logs"] == {"metric_reward": [0.25, 0.5], "toy/mean_len": [3.0, 3.0]}


def test_query_string_is_ignored_in_routing(server):
    assert request(server, "GET", "/health?verbose=1")[0] == 200


def test_concurrent_requests_all_answered_correctly(server):
    def client(k):
        results = []
        for j in range(20):
            completions, solution = random_batch(1000 * k + j, 1 + (j % 7))
            status, _, body = post(server, "/score", {"completions": completions, "solution": solution})
            results.append(
                status == 200 and body["overall"] == TOY_SET(completions, solution=solution).column("overall")
            )
        return results

    with ThreadPoolExecutor(8) as pool:
        outcomes = [ok for res in pool.map(client, range(8)) for ok in res]
    assert len(outcomes) == 160 and all(outcomes)


# -- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "payload", "match"),
    [
        ("/score", b"{not json", "not valid JSON"),
        ("/score", b"\xff\xfe\x00", "not valid JSON"),
        ("/score", b"[1, 2]", "must be a JSON object, got array"),
        ("/score", b'{"solution": ["a"]}', "missing field 'completions'"),
        ("/score", b'{"completions": "abc"}', "field 'completions' must be a list, got string"),
        (
            "/score",
            b'{"completions": ["a", "b"], "solution": ["a"]}',
            r"'solution' must have one entry per completion \(2\), got 1",
        ),
        ("/score", b'{"completions": ["a"], "solution": "a"}', "field 'solution' must be a list, got string"),
        ("/score", b'{"completions": ["a"], "log_metric": ["a"]}', "field 'log_metric' is reserved"),
        ("/get_reward", b'{"prompts": []}', "missing field 'query'"),
        ("/get_reward", b'{"query": [1]}', "'query' must hold strings, got number at index 0"),
        (
            "/get_reward",
            b'{"query": ["a"], "prompts": ["p", "q"]}',
            r"'prompts' must have one entry per completion \(1\), got 2",
        ),
        ("/get_reward", b'{"query": ["a"], "prompts": [null]}', "'prompts' must hold strings, got null"),
        ("/get_reward", b'{"query": ["a"], "labels": "x"}', "field 'labels' must be a list"),
        ("/get_reward", b"null", "must be a JSON object, got null"),
    ],
)
def test_bad_payloads_get_400_with_a_clear_message(server, path, payload, match):
    import re

    status, headers, body = request(server, "POST", path, payload, {"Content-Type": "application/json"})
    assert status == 400 and headers["Content-Type"] == "application/json"
    assert body["status"] == 400 and re.search(match, body["error"]), body


def test_deeply_nested_json_is_a_400_not_a_crash(server):
    status, _, body = request(server, "POST", "/score", b"[" * 20000 + b"]" * 20000)
    assert status == 400 and "not valid JSON" in body["error"]


def test_unknown_path_is_404(server):
    status, _, body = request(server, "GET", "/nope")
    assert status == 404 and "POST /get_reward" in body["error"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/score", "POST"),
        ("POST", "/health", "GET"),
        ("PUT", "/get_reward", "POST"),
        ("DELETE", "/score", "POST"),
    ],
)
def test_wrong_method_is_405_with_allow(server, method, path, allow):
    status, headers, body = request(server, method, path, b"{}" if method != "GET" else None)
    assert status == 405 and headers["Allow"] == allow and body["status"] == 405


def test_missing_content_length_is_411(server):
    status, _, body = request(server, "POST", "/score", None, {"Content-Type": "application/json"}, raw_headers=True)
    assert status == 411 and "Content-Length" in body["error"]


def test_chunked_body_is_411(server):
    status, _, body = request(
        server, "POST", "/score", b"2\r\n{}\r\n0\r\n\r\n", {"Transfer-Encoding": "chunked"}, raw_headers=True
    )
    assert status == 411 and "chunked" in body["error"]


@pytest.mark.parametrize("value", ["abc", "-5"])
def test_bad_content_length_is_400(server, value):
    status, _, body = request(server, "POST", "/score", None, {"Content-Length": value}, raw_headers=True)
    assert status == 400 and "Content-Length" in body["error"]


def test_body_over_the_limit_is_413(server):
    big = json.dumps({"completions": ["x" * 1000] * 100}).encode()  # ~100 KB > 64 KiB
    status, _, body = request(server, "POST", "/score", big, {"Content-Type": "application/json"})
    assert status == 413 and "exceeds the limit of 65536 bytes" in body["error"]
    assert request(server, "GET", "/health")[0] == 200  # and the server keeps serving


def test_reward_errors_map_to_400_and_500():
    with make_server(RewardSet([needs_label, Boom(), inf_reward]), port=0) as srv:
        srv.start()
        status, _, body = post(srv, "/score", {"completions": ["a"]})
        assert status == 400 and "label" in body["error"]  # missing column: the client's mistake
    with make_server(RewardSet([Boom()]), port=0) as srv:
        srv.start()
        status, _, body = post(srv, "/score", {"completions": ["a"]})
        assert status == 500 and body["error"] == "RuntimeError: reward crashed"
        assert request(srv, "GET", "/health")[0] == 200
    with make_server(RewardSet([inf_reward]), port=0) as srv:
        srv.start()
        status, _, body = post(srv, "/score", {"completions": ["a"]})
        assert status == 500 and "not JSON-serialisable" in body["error"]


# -- lifecycle -------------------------------------------------------------------------------------
def test_stop_waits_for_in_flight_requests_then_refuses_connections():
    entered, release = threading.Event(), threading.Event()

    def blocking(completions, **kwargs):
        entered.set()
        release.wait(30)
        return [1.0] * len(completions)

    srv = make_server(RewardSet([blocking, length_score]), port=0)
    srv.start()
    host, port = srv.server_address[:2]
    with ThreadPoolExecutor(2) as pool:
        pending = pool.submit(post, srv, "/score", {"completions": ["abcd"]})
        assert entered.wait(30)
        stopper = pool.submit(srv.stop)
        # stop() must be waiting for the in-flight request (it cannot finish before release)
        with pytest.raises(futures.TimeoutError):
            stopper.result(timeout=0.5)
        release.set()
        status, _, body = pending.result(timeout=30)
        stopper.result(timeout=30)
    assert status == 200 and body["overall"] == [1.5]  # the in-flight request completed
    with pytest.raises(OSError):
        http.client.HTTPConnection(host, port, timeout=5).request("GET", "/health")
    srv.stop()  # idempotent


def test_url_reports_bound_port():
    with make_server([length_score], port=0) as srv:
        assert srv.url == f"http://127.0.0.1:{srv.server_address[1]}" and srv.server_address[1] > 0


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"port": 70000}, ValueError, r"port must be in 0\.\.65535"),
        ({"port": "80"}, TypeError, "port must be an int"),
        ({"max_body_bytes": 0}, ValueError, "max_body_bytes must be >= 1"),
        ({"max_body_bytes": 1.5}, TypeError, "max_body_bytes must be an int"),
        ({"host": 127}, TypeError, "host must be a str"),
    ],
)
def test_make_server_validates_arguments(kwargs, exc, match):
    kwargs.setdefault("port", 0)
    with pytest.raises(exc, match=match):
        make_server([length_score], **kwargs)


def test_port_in_use_raises_oserror(server):
    with pytest.raises(OSError):
        make_server([length_score], "127.0.0.1", server.server_address[1])


def test_debug_logging_names_every_request(server, caplog):
    # `vrft-rewards serve --log-level DEBUG` promises a line per request; the OpenRLHF test in
    # tests/trainers/ counts them to see which URL a call went to.
    with caplog.at_level(logging.DEBUG, logger="vrft_rewards.serve"):
        post(server, "/get_reward", {"query": ["<answer>[1, 2, 3, 4]</answer>"], "labels": ["[1, 2, 3, 4]"]})
        post(server, "/get_reward", {"query": [], "labels": []})
        deadline = time.monotonic() + 5
        while sum("POST /get_reward" in r.getMessage() for r in caplog.records) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)  # the worker logs after sending the answer
    lines = [r.getMessage() for r in caplog.records if "POST /get_reward" in r.getMessage()]
    assert len(lines) == 2 and all('" 200, ' in line for line in lines), lines
