"""Load on the HTTP reward server (``vrft-rewards serve``), for docs/performance.md.

Starts ``python -m vrft_rewards serve --task detection --port 0`` from the package at ``--root``
(so two builds can be compared in one run: ``--root . --root ../main``) and measures, per root:

* ``steady``: 8 client threads x 250 POST /score of 64 completions, one connection each:
  requests/s, p50 / p99 latency, the server's peak RSS and thread count;
* ``burst``: 1,000 client threads released together, one POST /score each: outcomes, p99;
* ``slow``: 2,000 connections that send half a request and stall, then one normal request:
  its latency, the server's threads and RSS;
* ``sigterm``: seconds from SIGTERM to exit with 200 stalled connections open;
* ``bigbody``: a 57 MB body of 19 million tiny JSON values: status, peak and final RSS.

Each line of output is one JSON object.  Usage::

    python bench/server_load.py --root . --root /path/to/main [--sections steady burst ...]
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

GOOD = "<think>x</think><answer>[{'Position': [0, 0, 10, 10], 'Confidence': 0.9}]</answer>"
SOL = "<answer>[{'Position': [0, 0, 10, 10], 'Confidence': 1}]</answer>"
HALF = b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"


def status_of(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                out[key] = int(value.split()[0])
    return out


class Server:
    def __init__(self, root: str, *flags: str) -> None:
        env = dict(os.environ, PYTHONPATH=os.path.abspath(root))
        cmd = [sys.executable, "-m", "vrft_rewards", "serve", "--task", "detection", "--port", "0", *flags]
        # cwd too: `python -m` puts the working directory first on sys.path, before PYTHONPATH.
        self.proc = subprocess.Popen(
            cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, cwd=os.path.abspath(root)
        )
        for line in iter(self.proc.stderr.readline, b""):
            m = re.search(rb"http://([\d.]+):(\d+)", line)
            if m:
                self.addr = (m.group(1).decode(), int(m.group(2)))
                threading.Thread(target=self.proc.stderr.read, daemon=True).start()
                break
        else:
            raise RuntimeError(f"server at {root} did not start")
        self.max_threads = 0
        self._sampling = True
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while self._sampling and self.proc.poll() is None:
            try:
                self.max_threads = max(self.max_threads, status_of(self.proc.pid)["Threads"])
            except (OSError, KeyError):
                pass
            time.sleep(0.02)

    def status(self) -> dict:
        st = status_of(self.proc.pid)
        return {"rss_mb": round(st["VmRSS"] / 1024), "peak_rss_mb": round(st["VmHWM"] / 1024)}

    def close(self) -> None:
        self._sampling = False
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stderr.close()


def post(addr, body: bytes, timeout: float = 120) -> int:
    conn = http.client.HTTPConnection(*addr, timeout=timeout)
    try:
        conn.request("POST", "/score", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def quantiles(lat: list) -> dict:
    lat = sorted(lat)
    if not lat:
        return {}
    return {"p50_ms": round(1e3 * lat[len(lat) // 2], 1), "p99_ms": round(1e3 * lat[int(0.99 * (len(lat) - 1))], 1)}


def steady(root: str) -> dict:
    srv = Server(root)
    body = json.dumps({"completions": [GOOD] * 64, "solution": [SOL] * 64}).encode()
    lat, lock = [], threading.Lock()

    def client():
        for _ in range(250):
            t0 = time.perf_counter()
            assert post(srv.addr, body) == 200
            with lock:
                lat.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=client) for _ in range(8)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    out = {"req_per_s": round(len(lat) / wall, 1), **quantiles(lat), **srv.status(), "threads_max": srv.max_threads}
    srv.close()
    return out


def burst(root: str, n: int = 1000) -> dict:
    srv = Server(root)
    body = json.dumps({"completions": [GOOD], "solution": [SOL]}).encode()
    barrier = threading.Barrier(n)
    outcomes, lat, lock = collections.Counter(), [], threading.Lock()

    def one():
        barrier.wait()
        t0 = time.perf_counter()
        try:
            key = post(srv.addr, body)
        except OSError as e:
            key = type(e).__name__
        with lock:
            outcomes[key] += 1
            if key == 200:
                lat.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = {"outcomes": dict(outcomes), **quantiles(lat), **srv.status(), "threads_max": srv.max_threads}
    srv.close()
    return out


def slow(root: str, n: int = 2000) -> dict:
    srv = Server(root, "--max-connections", "4096") if "max" in _flags(root) else Server(root)
    socks = []
    for _ in range(n):
        s = socket.create_connection(srv.addr, timeout=30)
        s.sendall(HALF)
        socks.append(s)
    time.sleep(2)
    st = status_of(srv.proc.pid)
    t0 = time.perf_counter()
    try:
        normal = post(srv.addr, json.dumps({"completions": [GOOD], "solution": [SOL]}).encode(), timeout=60)
    except OSError as e:
        normal = type(e).__name__
    out = {
        "stalled": n,
        "normal_request": normal,
        "normal_request_ms": round(1e3 * (time.perf_counter() - t0), 1),
        "threads": st["Threads"],
        "rss_mb": round(st["VmRSS"] / 1024),
    }
    for s in socks:
        s.close()
    srv.close()
    return out


def sigterm(root: str, n: int = 200) -> dict:
    srv = Server(root)
    socks = []
    for _ in range(n):
        s = socket.create_connection(srv.addr, timeout=30)
        s.sendall(HALF)
        socks.append(s)
    time.sleep(1)
    t0 = time.perf_counter()
    srv.proc.send_signal(signal.SIGTERM)
    try:
        srv.proc.wait(180)
        took = round(time.perf_counter() - t0, 1)
    except subprocess.TimeoutExpired:
        took = "> 180"
    for s in socks:
        s.close()
    srv.close()
    return {"stalled": n, "exit_s": took}


def bigbody(root: str) -> dict:
    srv = Server(root)
    time.sleep(0.5)
    base = srv.status()["rss_mb"]
    n = 57_000_000 // 3
    body = b'{"completions": [' + b"[]," * (n - 1) + b"[]]}"
    t0 = time.perf_counter()
    with socket.create_connection(srv.addr, timeout=600) as s:
        s.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        resp = b"".join(iter(lambda: s.recv(1 << 16), b""))
    seconds = round(time.perf_counter() - t0, 1)
    time.sleep(1)
    out = {"status": int(resp.split(b" ", 2)[1]), "seconds": seconds, "base_rss_mb": base, **srv.status()}
    srv.close()
    return out


def _flags(root: str) -> str:
    cli = os.path.join(root, "vrft_rewards", "cli.py")
    return "max" if os.path.exists(cli) and "--max-connections" in open(cli).read() else ""


SECTIONS = {"steady": steady, "burst": burst, "slow": slow, "sigterm": sigterm, "bigbody": bigbody}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", action="append", required=True, help="package root to import (repeatable)")
    ap.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=list(SECTIONS))
    ap.add_argument("--repeat", type=int, default=1, help="rounds, the roots interleaved in each")
    args = ap.parse_args()
    for rep in range(args.repeat):
        for section in args.sections:
            for root in args.root:
                result = SECTIONS[section](root)
                print(json.dumps({"section": section, "root": root, "rep": rep, **result}), flush=True)


if __name__ == "__main__":
    main()
