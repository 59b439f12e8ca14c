#!/usr/bin/env python3
"""Runs the benchmark cases of issue #13 (see run.sh) and writes the report.

Everything runs on loopback, on this one machine: the app, the bare hyper baseline, the sandbox as
its own process, the Node.js port of the original app, and wrk. Each throughput case alternates A
(baseline) and B (the app) over several rounds, A first in odd rounds and B first in even ones, and
reports medians, so that noise on this shared machine hits both sides alike.
"""

import argparse
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONNECTIONS = 32
FLOW_MEMORY_CONNECTIONS = 200
BASIC = "Basic c2FuZGJveC1jb25zdW1lci1rZXk6c2FuZGJveC1jb25zdW1lci1zZWNyZXQ="  # sandbox-consumer-key:sandbox-consumer-secret
TICKS = os.sysconf("SC_CLK_TCK")

# Each process's environment: the app as `cargo run` starts it (no RUST_LOG: the default level,
# info, at which health probes log nothing), except the app's own password attempt limit: wrk is
# one address with many connections in flight.
BASE_ENV = {k: v for k, v in os.environ.items() if k != "RUST_LOG"}
APP_ENV = dict(BASE_ENV, FAILED_ATTEMPTS_PER_MINUTE="1000000")

LUA_DONE = """
local threads = {}
setup = function(thread) table.insert(threads, thread) end
bad = 0
count = 0
done = function(summary, latency, requests)
  local e = summary.errors
  local wrong = 0
  for _, thread in ipairs(threads) do wrong = wrong + (thread:get("bad") or 0) end
  io.write(string.format('BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout + wrong))
end
"""

# Only when needed (wrk parses every body once a `response` function exists): a 200 page without
# the expected text is an error too (the flow's API call failed), and a fixed number of requests.
LUA_RESPONSE = """
response = function(status, headers, body)
  if EXPECT and not string.find(body, EXPECT, 1, true) then bad = bad + 1 end
  count = count + 1
  if LIMIT and count >= LIMIT then wrk.thread:stop() end
end
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, headers=None, data=None, timeout=5):
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.read()


def wait_listening(port, limit=30):
    started = time.time()
    while time.time() - started < limit:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.02)
    sys.exit(f"nothing listens on port {port}")


class Process:
    def __init__(self, name, command, port, env=None, wrapper=()):
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([*wrapper, *command], cwd=ROOT, env=env or APP_ENV,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening(port, 120 if wrapper else 30)

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def cpu_seconds(self):
        """utime + stime of the whole process (all its threads), from /proc/PID/stat."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wrk(url, seconds, connections, method="GET", body=None, headers=None, expect=None, limit=None):
    script = LUA_DONE + f'wrk.method = "{method}"\n'
    if expect or limit:
        script += f"EXPECT = {json.dumps(expect) if expect else 'nil'}\nLIMIT = {limit or 'nil'}\n" + LUA_RESPONSE
    if body:
        script += f'wrk.body = "{body}"\n'
    for name, value in (headers or {}).items():
        script += f'wrk.headers["{name}"] = "{value}"\n'
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
        path = f.name
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", path, url],
            capture_output=True, text=True, check=True,
        ).stdout
    finally:
        os.unlink(path)
    match = re.search(r"^BENCH (.*)$", out, re.M)
    result = json.loads(match.group(1))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    if result["errors"]:
        sys.exit(f"wrk saw {result['errors']} errors on {url}:\n{out}")
    return result


def flow_cpu(client, servers, count, login):
    """CPU seconds each of `servers` spends per flow, over `count` flows sent to `client`."""
    before = [s.cpu_seconds() for s in servers]
    result = wrk(client.url + "/oauth-callback", 600, CONNECTIONS, limit=count, **login)
    time.sleep(0.3)  # the few requests wrk abandoned when it stopped
    after = [s.cpu_seconds() for s in servers]
    return [(a - b) / result["requests"] for a, b in zip(after, before)]


def memory_under_flows(app, seconds, login):
    """The app's peak RSS while 200 connections send flows, and its RSS idle afterwards."""
    peak = [app.rss_kib()]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak.append(app.rss_kib())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = wrk(app.url + "/oauth-callback", seconds, FLOW_MEMORY_CONNECTIONS, **login)
    finally:
        stop.set()
        sampler.join()
    time.sleep(3)
    return {"peak": max(peak), "idle_after": app.rss_kib(), "flows": result["requests"]}


def measure_startup(app_bin, runs):
    times = []
    for _ in range(runs):
        port = free_port()
        started = time.perf_counter()
        process = subprocess.Popen([app_bin, "--port", str(port)], cwd=ROOT, env=APP_ENV, stdout=subprocess.DEVNULL)
        request = b"GET /healthcheck HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(request)
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        break
            except OSError:
                time.sleep(0.0005)
        times.append((time.perf_counter() - started) * 1000)
        # SIGTERM right after the first answer must stop it (a lost signal once hung this script).
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            sys.exit("the app did not stop on SIGTERM sent right after start-up")
    return times


def measure_clean_build():
    """`cargo build` (debug) into an empty target directory: wall time and the 5 slowest crates."""
    target = tempfile.mkdtemp(prefix="bench-build-")
    load = os.getloadavg()[0]
    try:
        started = time.perf_counter()
        subprocess.run(["cargo", "build", "--timings"], cwd=ROOT, env=dict(BASE_ENV, CARGO_TARGET_DIR=target),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        with open(os.path.join(target, "cargo-timings", "cargo-timing.html")) as f:
            html = f.read()
        units = json.loads(re.search(r"const UNIT_DATA = (\[.*?\]);\n", html, re.S).group(1))
        per_crate = {}
        for unit in units:
            key = unit["name"] + (" (build script)" if unit.get("target", "").strip() == "build-script" else "")
            per_crate[key] = per_crate.get(key, 0) + unit["duration"]
        top = sorted(per_crate.items(), key=lambda kv: -kv[1])[:5]
        return {"wall": wall, "top": top, "units": len(units), "load": load}
    finally:
        shutil.rmtree(target, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Profiles: this machine's perf has no hardware counters (`perf stat -e instructions` says "not
# supported"), so instructions are counted by callgrind, which is exact and reproducible.


def callgrind(name, command, port, env, load, warm, count):
    """Instructions per request of `command` under `load(url, count)`, after `warm` requests, and
    its top functions by exclusive instructions."""
    out = os.path.join(tempfile.gettempdir(), f"bench-callgrind-{name}-{os.getpid()}.out")
    process = Process(name, command, port, env=env,
                      wrapper=["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--vgdb=yes"])
    try:
        load(process.url, warm)
        subprocess.run(["callgrind_control", "--zero", str(process.proc.pid)], check=True, capture_output=True)
        done = load(process.url, count)
        subprocess.run(["callgrind_control", "--dump", str(process.proc.pid)], check=True, capture_output=True)
    finally:
        process.stop()
    dumps = sorted(p for p in os.listdir(tempfile.gettempdir()) if p.startswith(os.path.basename(out)))
    # The dump taken on request (the first, `…out.1`), not the one written at exit.
    dump = os.path.join(tempfile.gettempdir(), [d for d in dumps if d.endswith(".1")][0])
    annotate = subprocess.run(["callgrind_annotate", "--threshold=99", dump], capture_output=True, text=True).stdout
    for d in dumps:
        os.unlink(os.path.join(tempfile.gettempdir(), d))
    total = int(re.search(r"^([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", annotate, re.M).group(1).replace(",", ""))
    top = []
    for line in annotate.split("file:function", 1)[-1].splitlines():
        m = re.match(r"^\s*([\d,]+) \(\s*([\d.]+)%\)\s+(.*)$", line)
        if m and len(top) < 12:
            top.append((float(m.group(2)), shorten(m.group(3))))
    return {"per_request": total / done, "top": top}


def shorten(symbol):
    symbol = symbol.split(":", 1)[-1] if symbol.startswith(("/", "???:")) or ".rs:" in symbol.split(" ")[0] else symbol
    symbol = re.sub(r"::h[0-9a-f]{16}$", "", symbol)
    symbol = re.sub(r"<[^<>]*>", "<…>", symbol) if len(symbol) > 90 else symbol
    return symbol[:110].replace("|", "\\|")


def profile(args, app_bin, bare_bin, page_file, sandbox_url, login):
    """Instruction counts per request: /healthcheck on bare hyper and on the app; one flow in the app
    and in the sandbox (each under callgrind in turn, the other process running natively)."""
    def hits(path, **kw):
        def load(url, count):
            return wrk(url + path, 600, 4, limit=count, **kw)["requests"]
        return load

    bare_port, app_port = free_port(), free_port()
    bare = callgrind("bare", [bare_bin, f"127.0.0.1:{bare_port}", page_file, "static/style.css"], bare_port,
                     BASE_ENV, hits("/healthcheck"), 200, 2000)
    app = callgrind("app", [app_bin, "--port", str(app_port)], app_port, APP_ENV, hits("/healthcheck"), 200, 2000)
    result = {"healthcheck": (bare, app)}

    # One flow: the app under callgrind in front of a native sandbox, then the sandbox under
    # callgrind behind a native app.
    live_port = free_port()
    live_env = dict(APP_ENV, BITBUCKET_SANDBOX="false", BITBUCKET_URL=sandbox_url, BITBUCKET_API_URL=sandbox_url + "/api")
    live_app = callgrind("live", [app_bin, "--port", str(live_port)], live_port, live_env,
                         hits("/oauth-callback", **login), 50, 300)
    # For the sandbox: its instructions per flow, with a native app in front of it.
    sandbox_port = free_port()
    holder = {}

    def through_native_app(url, count):
        if "app" not in holder:
            port = free_port()
            holder["app"] = Process("live-native", [app_bin, "--port", str(port)], port, env=dict(
                APP_ENV, BITBUCKET_SANDBOX="false", BITBUCKET_URL=url + "/sandbox", BITBUCKET_API_URL=url + "/sandbox/api"))
        return wrk(holder["app"].url + "/oauth-callback", 600, 4, limit=count, **login)["requests"]

    try:
        sandbox = callgrind("sandbox", [app_bin, "--sandbox-only", "--port", str(sandbox_port)], sandbox_port,
                            BASE_ENV, through_native_app, 50, 300)
    finally:
        if "app" in holder:
            holder["app"].stop()
    result["flow"] = (sandbox, live_app)
    return result
