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
# The long burst of the memory case, and how long after it the app must be back to 32 MiB.
LONG_BURST_SECONDS = 60
LONG_BURST_IDLE = 10
# The modest fixed rate of the open-loop latency case (requests/s); the other is half of bare
# hyper's saturated rate in the same run.
FIXED_RATE = 20000
# The fixed rate of password flows (flows/s) at which the app's and the floor's CPU per flow are
# compared (issue 21): well under both one's maximum (15,000 and 26,000 flows/s at saturation here).
FLOW_RATE = 2000
BASIC = "Basic c2FuZGJveC1jb25zdW1lci1rZXk6c2FuZGJveC1jb25zdW1lci1zZWNyZXQ="  # sandbox-consumer-key:sandbox-consumer-secret
TICKS = os.sysconf("SC_CLK_TCK")

# Where the single-server cases run (`/healthcheck`, `/`, the open-loop probe): with two CPUs or
# more, the load generator on one and the server under test on another, bare hyper and the app
# alike. Sharing both cores, wrk and the server's two Tokio workers are three busy threads on two
# CPUs: the kernel time-slices them, and wrk's p99 at saturation measured that (bare hyper's own
# p99 ranged from 0.63 to 2.16 ms between 4-second runs). The shared-cores reading is kept as a row
# of its own. The flows are not pinned: three processes share the machine as a user would run them.
CPUS = sorted(os.sched_getaffinity(0))
PINNED = len(CPUS) >= 2 and shutil.which("taskset") is not None
LOAD_CPU = ("taskset", "-c", str(CPUS[0])) if PINNED else ()
SERVER_CPU = ("taskset", "-c", str(CPUS[1])) if PINNED else ()

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
  if status ~= 200 then bad = bad + 1 end
  count = count + 1
  -- wrk.thread:stop() would leave wrk waiting out its whole -d: end the process instead.
  if LIMIT and count >= LIMIT then
    io.write(string.format('BENCH {"requests": %d, "duration_us": 1, "p50_us": 0, "p99_us": 0, "errors": %d}\\n', count, bad))
    io.flush()
    os.exit(0)
  end
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


def wrk(url, seconds, connections, method="GET", body=None, headers=None, expect=None, limit=None, pin=()):
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
            [*pin, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", path, url],
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


def fixed_rate(probe_bin, url, rate, seconds, connections):
    """Latency percentiles (µs) of `GET url` sent open loop at `rate` requests/s by
    examples/fixed_rate.rs: each request's latency counts from its due time."""
    host, path = re.match(r"http://([^/]+)(/.*)", url).groups()
    out = subprocess.run([*LOAD_CPU, probe_bin, host, path, str(int(rate)), str(seconds), str(connections)],
                         capture_output=True, text=True, check=True).stdout
    fields = out.split()
    result = {fields[i]: fields[i + 1] for i in range(0, len(fields) - 1, 2)}
    if int(result["errors"]):
        sys.exit(f"fixed_rate saw {result['errors']} errors on {url}: {out}")
    return {key: float(result[key].rstrip("/s")) for key in ["achieved", "p50", "p99", "p999"]}


def flow_cpu(client, servers, count, login):
    """CPU seconds each of `servers` spends per flow, over `count` flows sent to `client`."""
    before = [s.cpu_seconds() for s in servers]
    result = wrk(client.url + "/oauth-callback", 600, CONNECTIONS, limit=count, **login)
    time.sleep(0.3)  # the few requests wrk abandoned when it stopped
    after = [s.cpu_seconds() for s in servers]
    return [(a - b) / result["requests"] for a, b in zip(after, before)]


def flow_at_rate(probe_bin, server, sandbox, rate, seconds, login):
    """Issue 21's CPU per flow at a fixed rate, open loop: examples/fixed_rate.rs posts the password
    form to `server` at `rate` flows/s for `seconds`, over CONNECTIONS connections, whatever the
    server's speed; the CPU seconds (utime + stime, all threads) that `server` and the sandbox behind
    it spent meanwhile, divided by the flows answered (200 with "Demo User")."""
    host = server.url[len("http://"):]
    before = server.cpu_seconds(), sandbox.cpu_seconds()
    out = subprocess.run([probe_bin, host, "/oauth-callback", str(int(rate)), str(seconds), str(CONNECTIONS),
                          login["body"], login["expect"]], capture_output=True, text=True, check=True).stdout
    time.sleep(0.2)  # the connections' closing
    after = server.cpu_seconds(), sandbox.cpu_seconds()
    fields = out.split()
    result = {fields[i]: fields[i + 1] for i in range(0, len(fields) - 1, 2)}
    if int(result["errors"]):
        sys.exit(f"fixed_rate saw {result['errors']} failed flows on {server.url}: {out}")
    flows = int(result["sent"])
    return {"server": (after[0] - before[0]) / flows, "sandbox": (after[1] - before[1]) / flows, "flows": flows,
            "achieved": float(result["achieved"].rstrip("/s")), "p50": float(result["p50"]),
            "p99": float(result["p99"])}


def render_alone(render_bin, env, renders):
    """examples/render_page.rs: CPU time (µs) per render of the result page, and the page's bytes."""
    out = subprocess.run([render_bin, str(renders)], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True).stdout
    fields = out.split()
    result = {fields[i]: fields[i + 1] for i in range(0, len(fields) - 1, 2)}
    return {"us": float(result["cpu_ns_per_render"]) / 1000, "bytes": int(result["page_bytes"])}


def memory_under_flows(app, seconds, login, settle=3):
    """The app's peak RSS while 200 connections send flows, and its RSS idle `settle` s afterwards."""
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
    time.sleep(settle)
    return {"peak": max(peak), "idle_after": app.rss_kib(), "flows": result["requests"]}


def memory_after_long_burst(app, seconds, idle_seconds, login):
    """The app's peak RSS during a long burst of 200 concurrent flows (`seconds`), then its RSS each
    half second for `idle_seconds` idle: the last reading, and when it first fell to 32 MiB or less."""
    burst = memory_under_flows(app, seconds, login, settle=0)
    idle, back_at = [], None
    started = time.time()
    while time.time() - started < idle_seconds:
        time.sleep(0.5)
        rss = app.rss_kib()
        idle.append(rss)
        if back_at is None and rss <= 32 * 1024:
            back_at = time.time() - started
    return {"seconds": seconds, "peak": burst["peak"], "flows": burst["flows"], "idle_after": idle[-1],
            "idle_seconds": idle_seconds, "back_at": back_at, "trace": idle}


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


FLOOR_DIR = os.path.join(ROOT, "bench", "floor")
# How many times each clean build runs (app, floor, app, floor, …). The builds are timed by the
# clock, so each waits for a quiet machine first: at most QUIET_BUSY cores busy over a 3-second
# sample (the 1-minute load average lags: after one build it stays above 1 for a minute or more),
# polling every 30 s, with QUIET_PATIENCE seconds of waiting in all for the whole series.
BUILD_ROUNDS = 2
QUIET_BUSY = 0.5
QUIET_PATIENCE = 600
_patience = [QUIET_PATIENCE]


def busy_cores(seconds=3):
    """How many CPUs' worth of time everything on the machine used over `seconds`, from /proc/stat."""
    def sample():
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
        return sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait
    before = sample()
    time.sleep(seconds)
    return (sample() - before) / TICKS / seconds


def quiet_machine():
    """Waits for a quiet machine (see QUIET_BUSY), within what is left of QUIET_PATIENCE; returns
    the 1-minute load average and the busy cores measured when it goes ahead, quiet or not."""
    busy = busy_cores()
    while busy > QUIET_BUSY and _patience[0] > 0:
        print(f"{busy:.2f} cores busy (load average {os.getloadavg()[0]:.2f}): waiting for a quieter machine",
              flush=True)
        time.sleep(30)
        _patience[0] -= 30
        busy = busy_cores()
    return os.getloadavg()[0], busy


def timed_cargo(args, cwd, target):
    """`cargo ARGS --timings` with CARGO_TARGET_DIR=target: wall time, units compiled, the load
    average when it started, and the 5 crates that took longest (each crate's units summed)."""
    load, busy = quiet_machine()
    started = time.perf_counter()
    subprocess.run(["cargo", *args, "--timings", "--locked", "--offline"], cwd=cwd,
                   env=dict(BASE_ENV, CARGO_TARGET_DIR=target), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    with open(os.path.join(target, "cargo-timings", "cargo-timing.html")) as f:
        html = f.read()
    units = json.loads(re.search(r"const UNIT_DATA = (\[.*?\]);\n", html, re.S).group(1))
    per_crate = {}
    for unit in units:
        key = unit["name"] + (" (build script)" if unit.get("target", "").strip() == "build-script" else "")
        per_crate[key] = per_crate.get(key, 0) + unit["duration"]
    top = sorted(per_crate.items(), key=lambda kv: -kv[1])[:5]
    return {"wall": wall, "top": top, "units": len(units), "load": load, "busy": busy}


def measure_builds(rounds):
    """Issue 21's build ratios, with the same cargo home, in one run: the app's clean debug build
    (`cargo build`, empty target directory) and then its first `cargo test --no-run` in the same
    directory; the floor crate's clean debug build (bench/floor/, the user's stack alone). App and
    floor alternate, `rounds` times each."""
    # Downloads are not timed: both lockfiles' crates are fetched first (the floor's are the app's).
    for cwd in (ROOT, FLOOR_DIR):
        subprocess.run(["cargo", "fetch", "--locked"], cwd=cwd, env=BASE_ENV, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    builds = {"app": [], "test": [], "floor": []}
    for round_number in range(rounds):
        for side in ("app", "floor"):
            print(f"clean debug build {round_number + 1}/{rounds}: {side}", flush=True)
            target = tempfile.mkdtemp(prefix=f"bench-build-{side}-")
            try:
                if side == "app":
                    builds["app"].append(timed_cargo(["build"], ROOT, target))
                    builds["test"].append(timed_cargo(["test", "--no-run"], ROOT, target))
                else:
                    builds["floor"].append(timed_cargo(["build"], FLOOR_DIR, target))
            finally:
                shutil.rmtree(target, ignore_errors=True)
    return builds


def check_floor_lock():
    """The floor's manifest and lockfile agree (`cargo metadata --locked --offline`, no build), and
    every crate it locks is at the version the app's Cargo.lock pins: (crates, differing)."""
    import tomllib

    subprocess.run(["cargo", "metadata", "--format-version", "1", "--locked", "--offline"], cwd=FLOOR_DIR,
                   env=BASE_ENV, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(ROOT, "Cargo.lock"), "rb") as f:
        app = {(p["name"], p["version"]) for p in tomllib.load(f)["package"]}
    with open(os.path.join(FLOOR_DIR, "Cargo.lock"), "rb") as f:
        floor = [(p["name"], p["version"]) for p in tomllib.load(f)["package"] if p["name"] != "bench-floor"]
    return len(floor), [f"{name} {version}" for name, version in floor if (name, version) not in app]


# ---------------------------------------------------------------------------------------------
# Profiles: this machine's perf has no hardware counters (`perf stat -e instructions` says "not
# supported"), so instructions are counted by callgrind, which is exact and reproducible.


def callgrind(name, command, env, load, warm, count):
    """Instructions per request of `command` under `load(url, count)`, and its top functions by
    exclusive instructions. Callgrind's counts after `--zero` or a second dump come out attributed
    to one function, so it runs twice (warm-up only, then warm-up and `count` more) and subtracts."""
    runs = []
    for extra in (0, count):
        out = os.path.join(tempfile.gettempdir(), f"bench-callgrind-{name}-{os.getpid()}.out")
        port = free_port()
        process = Process(name, command(port), port, env=env,
                          wrapper=["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"])
        try:
            done = load(process.url, warm) if warm else 0
            if extra:
                done = load(process.url, extra)
            subprocess.run(["callgrind_control", "--dump", str(process.proc.pid)], check=True, capture_output=True)
        finally:
            process.stop()
        dump = out + ".1"
        annotate = subprocess.run(["callgrind_annotate", "--threshold=100", dump], capture_output=True, text=True).stdout
        for path in (out, dump):
            if os.path.exists(path):
                os.unlink(path)
        functions = {}
        for line in annotate.split("file:function", 1)[-1].splitlines():
            m = re.match(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$", line)
            if m:
                key = shorten(m.group(2))
                functions[key] = functions.get(key, 0) + int(m.group(1).replace(",", ""))
        total = int(re.search(r"^([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", annotate, re.M).group(1).replace(",", ""))
        runs.append((total, functions, done))
    (total0, functions0, _), (total1, functions1, done) = runs
    spent = total1 - total0
    diff = {k: v - functions0.get(k, 0) for k, v in functions1.items()}
    top = sorted(diff.items(), key=lambda kv: -kv[1])[:12]
    return {"per_request": spent / done, "top": [(100 * v / spent, k) for k, v in top],
            "per_function": {k: v / done for k, v in diff.items()}}


def callgrind_total(command, env):
    """Instructions callgrind counts for the whole of `command`, run to its end."""
    out = os.path.join(tempfile.gettempdir(), f"bench-callgrind-run-{os.getpid()}.out")
    try:
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command], cwd=ROOT, env=env,
                       check=True, capture_output=True)
        annotate = subprocess.run(["callgrind_annotate", "--threshold=100", out], capture_output=True, text=True).stdout
    finally:
        if os.path.exists(out):
            os.unlink(out)
    return int(re.search(r"^([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", annotate, re.M).group(1).replace(",", ""))


def hits(path, **kw):
    """A load for `callgrind`: `count` requests to `path`, 4 connections."""
    def load(url, count):
        return wrk(url + path, 600, 4, limit=count, **kw)["requests"]
    return load


def shorten(symbol):
    symbol = re.sub(r" \[[^\]]*\]$", "", symbol)  # the object file
    symbol = symbol.split(":", 1)[1] if re.match(r"^(\?\?\?|[./][^:]*):", symbol) else symbol
    symbol = re.sub(r"::h[0-9a-f]{16}$", "", symbol)
    symbol = re.sub(r"<[^<>]*>", "<…>", symbol) if len(symbol) > 90 else symbol
    return symbol[:110].replace("|", "\\|")


def profile_flow(app_bin, floor_bin, render_bin, sandbox_url, login):
    """Issue 21's question, where the app's CPU per flow goes beyond the floor's, in instructions:
    one flow in the app and in the floor (each under callgrind, in front of a native sandbox), and
    one render of the result page alone (examples/render_page.rs, 110 renders minus 10)."""
    upstream = {"BITBUCKET_URL": sandbox_url, "BITBUCKET_API_URL": sandbox_url + "/api"}
    live_env = dict(APP_ENV, BITBUCKET_SANDBOX="false", **upstream)
    app = callgrind("live", lambda port: [app_bin, "--port", str(port)], live_env,
                    hits("/oauth-callback", **login), 50, 300)
    floor = callgrind("floor", lambda port: [floor_bin, f"127.0.0.1:{port}"], dict(BASE_ENV, **upstream),
                      hits("/oauth-callback", **login), 50, 300)
    render = (callgrind_total([render_bin, "110"], live_env) - callgrind_total([render_bin, "10"], live_env)) / 100
    return {"app": app, "floor": floor, "render": render}


def profile(args, app_bin, bare_bin, page_file, sandbox_url, login, live_app):
    """Instruction counts per request: /healthcheck on bare hyper and on the app; one flow in the app
    (`live_app`, from `profile_flow`) and in the sandbox (under callgrind behind a native app)."""
    bare = callgrind("bare", lambda port: [bare_bin, f"127.0.0.1:{port}", page_file, "static/style.css"],
                     BASE_ENV, hits("/healthcheck"), 200, 2000)
    app = callgrind("app", lambda port: [app_bin, "--port", str(port)], APP_ENV, hits("/healthcheck"), 200, 2000)
    result = {"healthcheck": (bare, app)}

    # One flow: the sandbox under callgrind behind a native app (the app's own count is live_app).
    # For the sandbox: its instructions per flow, with a native app in front of it.
    natives = {}

    def through_native_app(url, count):
        if url not in natives:  # a fresh app for each sandbox process
            port = free_port()
            natives[url] = Process("live-native", [app_bin, "--port", str(port)], port, env=dict(
                APP_ENV, BITBUCKET_SANDBOX="false", BITBUCKET_URL=url + "/sandbox", BITBUCKET_API_URL=url + "/sandbox/api"))
        return wrk(natives[url].url + "/oauth-callback", 600, 4, limit=count, **login)["requests"]

    try:
        sandbox = callgrind("sandbox", lambda port: [app_bin, "--sandbox-only", "--port", str(port)], BASE_ENV, through_native_app, 50, 300)
    finally:
        for process in natives.values():
            process.stop()
    result["flow"] = (sandbox, live_app)
    return result


# ---------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["full", "smoke"], default="full")
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--out", required=True, help="where to write the report")
    args = parser.parse_args()
    full = args.mode == "full"
    rounds, seconds, fixed_flows = (5, 10, 20000) if full else (1, 1, 300)
    app_bin = os.path.join(args.bin_dir, "bitbucket-password-grant")
    bare_bin = os.path.join(args.bin_dir, "examples", "bare_hyper")
    floor_bin = os.path.join(args.bin_dir, "examples", "bare_flow")
    probe_bin = os.path.join(args.bin_dir, "examples", "fixed_rate")
    render_bin = os.path.join(args.bin_dir, "examples", "render_page")
    started = time.time()

    # The clean builds first, before any server runs: they want both cores. A smoke run builds
    # nothing (CI stays fast): it checks the floor crate's manifest and lockfile only.
    floor_lock = check_floor_lock()
    builds = measure_builds(BUILD_ROUNDS) if full else None

    # The app as `cargo run` starts it (sandbox mode, default logging).
    port = free_port()
    app = Process("app", [app_bin, "--port", str(port)], port, wrapper=SERVER_CPU)
    # The baseline serves the landing page's exact bytes, fetched from the app.
    landing = get(app.url + "/")[1]
    page_file = tempfile.NamedTemporaryFile(suffix=".html", delete=False)
    page_file.write(landing)
    page_file.close()
    port = free_port()
    bare = Process("bare", [bare_bin, f"127.0.0.1:{port}", page_file.name, "static/style.css"], port, env=BASE_ENV,
                   wrapper=SERVER_CPU)
    assert get(bare.url + "/")[1] == landing, "the baseline must serve the same bytes"
    assert get(bare.url + "/healthcheck")[1] == get(app.url + "/healthcheck")[1]
    # Where they are pinned, the same two unpinned as well, for the shared-cores reading.
    shared = []
    if PINNED:
        port = free_port()
        app_shared = Process("app-shared", [app_bin, "--port", str(port)], port)
        port = free_port()
        bare_shared = Process("bare-shared", [bare_bin, f"127.0.0.1:{port}", page_file.name, "static/style.css"], port,
                              env=BASE_ENV)
        shared = [("healthcheck-shared", {"A": bare_shared, "B": app_shared}, "/healthcheck", {})]

    # The sandbox as its own process (its defaults: 10 failed password attempts a minute per
    # address; every flow here succeeds and gives its place back), the app in live mode pointed at
    # it, and the Node.js port of the original pointed at it too.
    port = free_port()
    sandbox = Process("sandbox", [app_bin, "--sandbox-only", "--port", str(port)], port, env=BASE_ENV)
    sandbox_url = sandbox.url + "/sandbox"
    upstream = {"BITBUCKET_URL": sandbox_url, "BITBUCKET_API_URL": sandbox_url + "/api"}
    port = free_port()
    live = Process("app-live", [app_bin, "--port", str(port)], port, env=dict(APP_ENV, BITBUCKET_SANDBOX="false", **upstream))
    port = free_port()
    node = Process("node", ["node", "bench/node-original/server.js"], port, env=dict(BASE_ENV, PORT=str(port), **upstream))
    # The floor: the least an app on this stack can do for a flow (examples/bare_flow.rs).
    port = free_port()
    floor = Process("floor", [floor_bin, f"127.0.0.1:{port}"], port, env=dict(BASE_ENV, **upstream))

    login = {"method": "POST", "body": "username=demo&password=demo", "expect": "Demo User",
             "headers": {"Content-Type": "application/x-www-form-urlencoded"}}

    # Warm-up: connections, allocators, caches.
    for url in [bare.url + "/healthcheck", app.url + "/healthcheck", app.url + "/"] + [
            side.url + "/healthcheck" for _, sides, _, _ in shared for side in sides.values()]:
        wrk(url, 1, 4)
    for server in [live, node, floor]:
        wrk(server.url + "/oauth-callback", 1, 4, **login)

    cases = {name: {"A": [], "B": [], "F": []} for name in ["healthcheck", "healthcheck-shared", "landing", "flow"]}
    cpu = {"app": [], "sandbox-app": [], "node": [], "sandbox-node": [], "floor": [], "sandbox-floor": []}
    pinned = {"pin": LOAD_CPU}
    for round_number in range(rounds):
        print(f"round {round_number + 1}/{rounds}", flush=True)
        order = ["A", "B"] if round_number % 2 == 0 else ["B", "A"]
        for case, sides, path, kw in [("healthcheck", {"A": bare, "B": app}, "/healthcheck", pinned), *shared,
                                      ("landing", {"A": bare, "B": app}, "/", pinned),
                                      ("flow", {"A": node, "B": live, "F": floor}, "/oauth-callback", login)]:
            # The floor (F), where there is one, after A and B.
            for side in order + [s for s in sides if s not in order]:
                cases[case][side].append(wrk(sides[side].url + path, seconds, CONNECTIONS, **kw))
        # CPU per flow over a fixed number of flows: the app and the sandbox behind it; then the
        # Node port and the sandbox behind it.
        app_cpu, sandbox_cpu = flow_cpu(live, [live, sandbox], fixed_flows, login)
        cpu["app"].append(app_cpu)
        cpu["sandbox-app"].append(sandbox_cpu)
        node_cpu, sandbox_cpu = flow_cpu(node, [node, sandbox], fixed_flows // 5, login)
        cpu["node"].append(node_cpu)
        cpu["sandbox-node"].append(sandbox_cpu)
        floor_cpu, sandbox_cpu = flow_cpu(floor, [floor, sandbox], fixed_flows, login)
        cpu["floor"].append(floor_cpu)
        cpu["sandbox-floor"].append(sandbox_cpu)

    # CPU per flow at one fixed rate of flows, open loop, the app and the floor alternating (issue
    # 21): the same work per second for both, however busy the machine is; then the result page
    # rendered on its own, and one page as the app serves it, for its size.
    flow_rate = FLOW_RATE if full else 200
    at_rate = {"app": [], "floor": []}
    for round_number in range(rounds):
        order = ["app", "floor"] if round_number % 2 == 0 else ["floor", "app"]
        for side in order:
            at_rate[side].append(flow_at_rate(probe_bin, live if side == "app" else floor, sandbox, flow_rate,
                                              seconds, login))
    live_env = dict(APP_ENV, BITBUCKET_SANDBOX="false", **upstream)
    render = [render_alone(render_bin, live_env, 2000 if full else 20) for _ in range(rounds)]
    served = get(live.url + "/oauth-callback", data=login["body"].encode(), headers=login["headers"])[1]
    render_summary = {"us": statistics.median(r["us"] for r in render), "bytes": render[0]["bytes"],
                      "served_bytes": len(served), "rounds": [r["us"] for r in render]}

    # Latency at fixed rates, open loop (wrk's p99 above is taken at saturation): a modest rate,
    # and half of what bare hyper reached above. A and B alternate as before.
    saturated = statistics.median(r["rps"] for r in cases["healthcheck"]["A"])
    rates = [FIXED_RATE, round(saturated / 2, -3)] if full else [2000]
    fixed = {rate: {"A": [], "B": []} for rate in rates}
    for round_number in range(rounds):
        order = ["A", "B"] if round_number % 2 == 0 else ["B", "A"]
        for rate in rates:
            for side in order:
                server = bare if side == "A" else app
                fixed[rate][side].append(fixed_rate(probe_bin, server.url + "/healthcheck", rate,
                                                    seconds // 2 or 1, CONNECTIONS))

    memory = memory_under_flows(live, seconds, login)
    # The long burst (issue 22): 60 s of flows, then 10 s idle, on a fresh app so that it starts
    # from the same state as a user's.
    port = free_port()
    fresh = Process("app-live-long", [app_bin, "--port", str(port)], port,
                    env=dict(APP_ENV, BITBUCKET_SANDBOX="false", **upstream))
    wrk(fresh.url + "/oauth-callback", 1, 4, **login)
    memory["long"] = memory_after_long_burst(fresh, LONG_BURST_SECONDS if full else 2, LONG_BURST_IDLE if full else 2, login)
    fresh.stop()
    startup = measure_startup(app_bin, 20 if full else 3)
    for process in [app, bare, sandbox, live, node, floor] + [p for _, sides, _, _ in shared for p in sides.values()]:
        process.stop()

    report = Report(args, rounds, seconds, fixed_flows, len(landing))
    report.results(cases, cpu, memory, startup, builds, fixed)
    report.builds(builds, floor_lock)
    report.flow_at_rate(flow_rate, at_rate, render_summary)
    # In a full run: where the app's flow goes beyond the floor's, and the profiles of any missed
    # throughput or CPU target (instruction counts, callgrind).
    profiles = None
    if full and shutil.which("valgrind"):
        print("profiling the flow (and any missed target) with callgrind", flush=True)
        port = free_port()
        sandbox = Process("sandbox", [app_bin, "--sandbox-only", "--port", str(port)], port, env=BASE_ENV)
        try:
            profiles = {"floor": profile_flow(app_bin, floor_bin, render_bin, sandbox.url + "/sandbox", login)}
            if report.missed & {"healthcheck", "flow-cpu"}:
                profiles.update(profile(args, app_bin, bare_bin, page_file.name, sandbox.url + "/sandbox", login,
                                        profiles["floor"]["app"]))
        finally:
            sandbox.stop()
    os.unlink(page_file.name)
    report.write(profiles, time.time() - started)


class Report:
    def __init__(self, args, rounds, seconds, fixed_flows, landing_bytes):
        self.args, self.rounds, self.seconds, self.fixed_flows = args, rounds, seconds, fixed_flows
        self.landing_bytes = landing_bytes
        self.rows, self.missed, self.extra, self.values = [], set(), [], {}

    def row(self, key, what, a, b, ratio, target, met):
        if met is False:
            self.missed.add(key)
        verdict = "" if met is None else ("met" if met else "**missed**")
        self.rows.append(f"| {what} | {a} | {b} | {ratio} | {target} | {verdict} |")

    def results(self, cases, cpu, memory, startup, build, fixed):
        def med(case, side, key):
            return statistics.median(r[key] for r in cases[case][side])

        where = " (wrk on one CPU, the server on the other)" if PINNED else ""
        a, b = med("healthcheck", "A", "rps"), med("healthcheck", "B", "rps")
        self.row("healthcheck", f"`/healthcheck` requests/s{where}", f"{a:,.0f}", f"{b:,.0f}", f"{b / a:.2f}", "≥ 0.9",
                 b / a >= 0.9)
        a, b = med("healthcheck", "A", "p99_us"), med("healthcheck", "B", "p99_us")
        self.row("healthcheck-p99", f"`/healthcheck` p99 latency at saturation{where}", f"{a / 1000:.2f} ms",
                 f"{b / 1000:.2f} ms", f"{b / a:.2f}", "≤ 1.2", b / a <= 1.2)
        if PINNED:
            a, b = med("healthcheck-shared", "A", "rps"), med("healthcheck-shared", "B", "rps")
            self.row("healthcheck-shared", "`/healthcheck` requests/s, wrk and the server sharing both CPUs",
                     f"{a:,.0f}", f"{b:,.0f}", f"{b / a:.2f}", "≥ 0.9", b / a >= 0.9)
            a, b = med("healthcheck-shared", "A", "p99_us"), med("healthcheck-shared", "B", "p99_us")
            self.row("healthcheck-shared-p99", "`/healthcheck` p99 latency at saturation, sharing both CPUs",
                     f"{a / 1000:.2f} ms", f"{b / 1000:.2f} ms", f"{b / a:.2f}", "≤ 1.2", b / a <= 1.2)
        for rate, sides in fixed.items():
            a, b = (statistics.median(r["p99"] for r in sides[side]) for side in "AB")
            self.row(f"p99-at-{rate:.0f}", f"`/healthcheck` p99 latency at a fixed {rate:,.0f} requests/s (open loop)",
                     f"{a / 1000:.2f} ms", f"{b / 1000:.2f} ms", f"{b / a:.2f}", "≤ 1.2 (this reading)", b / a <= 1.2)
        a, b = med("landing", "A", "rps"), med("landing", "B", "rps")
        self.row("landing", f"`/` ({self.landing_bytes:,} bytes) requests/s", f"{a:,.0f}", f"{b:,.0f}", f"{b / a:.2f}",
                 "(none)", None)
        a, b = med("flow", "A", "rps"), med("flow", "B", "rps")
        self.row("flow-rps", f"full password flow: flows/s, {CONNECTIONS} connections (A: Node.js port)",
                 f"{a:,.0f}", f"{b:,.0f}", f"{b / a:.1f}", "≥ 10", b / a >= 10)
        node_rps, app_rps, floor_rps = a, b, med("flow", "F", "rps")
        self.row("floor-rps", "(the floor) `examples/bare_flow.rs`: flows/s (A: Node.js port)", f"{a:,.0f}",
                 f"{floor_rps:,.0f}", f"{floor_rps / a:.1f}", "(none: the stack's own limit here)", None)
        ratios = [x / y for x, y in zip(cpu["app"], cpu["sandbox-app"])]
        sandbox_us, app_us = statistics.median(cpu["sandbox-app"]) * 1e6, statistics.median(cpu["app"]) * 1e6
        self.row("flow-cpu", "full password flow: CPU time per flow (A: the sandbox serving it)",
                 f"{sandbox_us:.0f} µs", f"{app_us:.0f} µs", f"{statistics.median(ratios):.2f}", "≤ 1.5",
                 statistics.median(ratios) <= 1.5)
        floor_ratios = [x / y for x, y in zip(cpu["floor"], cpu["sandbox-floor"])]
        floor_ratio = statistics.median(floor_ratios)
        floor_us = statistics.median(cpu["floor"]) * 1e6
        self.row("floor-cpu", "(the floor) `examples/bare_flow.rs`: CPU time per flow (A: the sandbox serving it)",
                 f"{statistics.median(cpu['sandbox-floor']) * 1e6:.0f} µs", f"{floor_us:.0f} µs",
                 f"{floor_ratio:.2f}", "(none: the stack's own limit here)", None)
        over_floor = [x / y for x, y in zip(cpu["app"], cpu["floor"])]
        self.row("app-over-floor", "(for comparison) CPU time per flow: the app (B) against the floor (A)",
                 f"{floor_us:.0f} µs", f"{app_us:.0f} µs", f"{statistics.median(over_floor):.2f}", "(none)", None)
        self.values = {"app_us": app_us, "node_us": statistics.median(cpu["node"]) * 1e6, "sandbox_us": sandbox_us,
                       "target_rps": 10 * node_rps, "sandbox_cores": 10 * node_rps * sandbox_us / 1e6,
                       "floor_us": floor_us, "floor_ratio": floor_ratio,
                       "floor_rps": floor_rps, "floor_vs_node": floor_rps / node_rps, "app_vs_node": app_rps / node_rps,
                       "over_floor": statistics.median(over_floor),
                       "floor_verdict": "Even the floor does not reach it: no app on this stack can, on this machine."
                       if floor_rps < 10 * node_rps else "The floor reaches it: what is missing is the app's own cost.",
                       "headroom": f"So 1.5× leaves an app {1.5 - floor_ratio:.2f}× of the sandbox's CPU "
                       "for everything it does beyond the floor."
                       if floor_ratio < 1.5
                       else "The floor alone is over 1.5×: no app on this stack meets it here.",
                       "p99_where": "With the server on a CPU of its own, the tail" if PINNED else "The tail"}
        node_ratios = [x / y for x, y in zip(cpu["node"], cpu["sandbox-node"])]
        self.row("node-cpu", "(for comparison) the Node.js port: CPU time per flow (A: the sandbox serving it)",
                 f"{statistics.median(cpu['sandbox-node']) * 1e6:.0f} µs", f"{statistics.median(cpu['node']) * 1e6:.0f} µs",
                 f"{statistics.median(node_ratios):.2f}", "(none)", None)
        mib = lambda kib: kib / 1024
        self.row("rss-peak", f"app RSS, peak during {FLOW_MEMORY_CONNECTIONS} concurrent flows", "",
                 f"{mib(memory['peak']):.1f} MiB", "", "≤ 64 MiB", mib(memory["peak"]) <= 64)
        self.row("rss-idle", "app RSS, idle 3 s after them", "", f"{mib(memory['idle_after']):.1f} MiB", "", "≤ 32 MiB",
                 mib(memory["idle_after"]) <= 32)
        long = memory["long"]
        back = f", ≤ 32 MiB after {long['back_at']:.1f} s" if long["back_at"] is not None else ""
        self.row("rss-idle-long", f"app RSS {long['idle_seconds']} s after {long['seconds']} s of "
                 f"{FLOW_MEMORY_CONNECTIONS} concurrent flows (peak {mib(long['peak']):.1f} MiB{back})", "",
                 f"{mib(long['idle_after']):.1f} MiB", "", "≤ 32 MiB", mib(long["idle_after"]) <= 32)
        self.extra += [f"Long burst: {long['flows']:,} flows; RSS each half second after it: "
                       + ", ".join(f"{mib(kib):.1f}" for kib in long["trace"]) + " MiB.", ""]
        ms = statistics.median(startup)
        self.row("startup", f"start-up to the first `/healthcheck` 200 (median of {len(startup)})", "", f"{ms:.1f} ms", "",
                 "≤ 50 ms", ms <= 50)
        if build:
            wall = statistics.median(b["wall"] for b in build["app"])
            self.row("build", f"clean debug build (`cargo build`, empty target directory; median of {len(build['app'])})",
                     "", f"{wall:.1f} s", "", "≤ 45 s", wall <= 45)
        else:
            self.rows.append("| clean debug build | | not measured in a smoke run | | ≤ 45 s | |")
        self.extra += [
            "Raw rounds (A/B): " + "; ".join(
                f"{name} requests/s " + ", ".join(f"{a['rps']:,.0f}/{b['rps']:,.0f}" for a, b in zip(c["A"], c["B"]))
                for name, c in cases.items())
            + "; floor flows/s " + ", ".join(f"{f['rps']:,.0f}" for f in cases["flow"]["F"])
            + "".join(f"; `/healthcheck` p99 at saturation{label} " + ", ".join(
                f"{a['p99_us'] / 1000:.2f}/{b['p99_us'] / 1000:.2f} ms"
                for a, b in zip(cases[case]["A"], cases[case]["B"]))
                for case, label in [("healthcheck", ""), ("healthcheck-shared", ", sharing both CPUs")]
                if cases[case]["A"])
            + "".join(f"; p99 at a fixed {rate:,.0f}/s " + ", ".join(
                f"{a['p99'] / 1000:.2f}/{b['p99'] / 1000:.2f} ms" for a, b in zip(sides["A"], sides["B"]))
                for rate, sides in fixed.items())
            + "; CPU per flow app/sandbox " + ", ".join(f"{x * 1e6:.0f}/{y * 1e6:.0f} µs"
                                                         for x, y in zip(cpu["app"], cpu["sandbox-app"]))
            + ", floor/sandbox " + ", ".join(f"{x * 1e6:.0f}/{y * 1e6:.0f} µs"
                                             for x, y in zip(cpu["floor"], cpu["sandbox-floor"]))
            + f"; {memory['flows']:,} flows in the memory case.", ""]

    def builds(self, builds, floor_lock):
        """Issue 21's build ratios: the app's clean debug build ÷ the floor crate's, and the first
        `cargo test --no-run` after it ÷ that clean build."""
        crates, differing = floor_lock
        lock = (f"The floor crate (`bench/floor/`) locks {crates} crates, "
                + ("every one at the version the app's Cargo.lock pins."
                   if not differing else "some at versions the app does not pin: " + ", ".join(differing) + "."))
        if not builds:
            self.rows.append("| clean debug build, the app ÷ the floor crate (`bench/floor/`) | "
                             "| not measured in a smoke run | | ≤ 1.1 | |")
            self.rows.append("| first `cargo test --no-run` after `cargo build` ÷ that clean build | "
                             "| not measured in a smoke run | | ≤ 1.0 | |")
            self.extra += [lock + " A smoke run checks its manifest and lockfile (`cargo metadata --locked`) and "
                           "builds nothing: a clean build of each takes minutes.", ""]
            return
        wall = {side: statistics.median(b["wall"] for b in runs) for side, runs in builds.items()}
        units = {side: runs[0]["units"] for side, runs in builds.items()}
        ratio = wall["app"] / wall["floor"]
        self.row("build-ratio", f"clean debug build (`cargo build`, empty target directory; median of "
                 f"{len(builds['app'])}), A: the floor crate (`bench/floor/`, {units['floor']} units), "
                 f"B: the app ({units['app']} units)", f"{wall['floor']:.1f} s", f"{wall['app']:.1f} s",
                 f"{ratio:.2f}", "≤ 1.1", ratio <= 1.1)
        test_ratio = wall["test"] / wall["app"]
        self.row("test-build-ratio", "the first `cargo test --no-run` after that `cargo build` (same target "
                 f"directory; {units['test']} more units), A: the clean build, B: the test build",
                 f"{wall['app']:.1f} s", f"{wall['test']:.1f} s", f"{test_ratio:.2f}", "≤ 1.0", test_ratio <= 1.0)
        self.values.update(build_ratio=ratio, test_ratio=test_ratio, app_build=wall["app"], floor_build=wall["floor"],
                           test_build=wall["test"], app_units=units["app"], floor_units=units["floor"],
                           test_units=units["test"])
        names = {"app": "the app's clean build", "test": "its `cargo test --no-run`", "floor": "the floor's clean build"}
        self.extra += [
            "Builds (issue 21), the same cargo home, in the order run (app and its tests, floor; again), each "
            f"after waiting for at most {QUIET_BUSY} cores busy over 3 s ({QUIET_PATIENCE // 60} min of waiting "
            "at most in all); with the 1-minute load average and the busy cores at each start: "
            + "; ".join(f"{names[side]} " + ", ".join(f"{b['wall']:.1f} s ({b['units']} units, load {b['load']:.2f}, "
                                                     f"{b['busy']:.2f} cores busy)" for b in runs)
                        for side, runs in builds.items()) + ". " + lock,
            "",
            "The 5 crates that took longest (each crate's units summed, from `cargo build --timings`, first round): "
            + "; ".join(f"{names[side]}: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in runs[0]["top"])
                        for side, runs in builds.items()) + ".",
            ""]

    def flow_at_rate(self, rate, at_rate, render):
        """Issue 21's CPU per flow at a fixed rate, app ÷ floor, and the page rendered on its own."""
        app = statistics.median(r["server"] for r in at_rate["app"]) * 1e6
        floor = statistics.median(r["server"] for r in at_rate["floor"]) * 1e6
        ratios = [a["server"] / f["server"] for a, f in zip(at_rate["app"], at_rate["floor"])]
        ratio = statistics.median(ratios)
        self.row("flow-at-rate", f"full password flow at a fixed {rate:,} flows/s (open loop, "
                 f"{CONNECTIONS} connections): CPU time per flow (A: the floor, `examples/bare_flow.rs`)",
                 f"{floor:.0f} µs", f"{app:.0f} µs", f"{ratio:.2f}", "≤ 1.3", ratio <= 1.3)
        self.row("render", "the result page rendered on its own (`examples/render_page.rs`, "
                 f"{render['bytes']:,} bytes): CPU time per render", "", f"{render['us']:.1f} µs", "",
                 "(none)", None)
        extra = app - floor
        self.values.update(rate_app_us=app, rate_floor_us=floor, rate_ratio=ratio, render_us=render["us"],
                           render_share=render["us"] / extra if extra > 0 else float("nan"),
                           rest_us=extra - render["us"], flow_rate=rate)
        self.extra += [
            f"At a fixed {rate:,} flows/s: the app spends {app:.0f} µs of CPU per flow and the floor {floor:.0f} µs, "
            f"{extra:.0f} µs more; rendering the result page alone takes {render['us']:.1f} µs of it "
            f"(median of {len(render['rounds'])} runs of `examples/render_page.rs`: "
            + ", ".join(f"{us:.1f}" for us in render["rounds"])
            + f" µs; its page is {render['bytes']:,} bytes, the app served {render['served_bytes']:,} for the same "
            "flow), and the sandbox behind them spent "
            + ", ".join(f"{r['sandbox'] * 1e6:.0f}" for r in at_rate["app"]) + " µs per flow of the app's and "
            + ", ".join(f"{r['sandbox'] * 1e6:.0f}" for r in at_rate["floor"]) + " of the floor's. Rounds, app/floor: "
            + ", ".join(f"{a['server'] * 1e6:.0f}/{f['server'] * 1e6:.0f} µs" for a, f in zip(at_rate["app"], at_rate["floor"]))
            + "; flows answered per round " + ", ".join(f"{a['flows']:,}/{f['flows']:,}" for a, f in zip(at_rate["app"], at_rate["floor"]))
            + "; p50/p99 latency from the due time, app " + ", ".join(f"{a['p50'] / 1000:.2f}/{a['p99'] / 1000:.2f}" for a in at_rate["app"])
            + " ms, floor " + ", ".join(f"{f['p50'] / 1000:.2f}/{f['p99'] / 1000:.2f}" for f in at_rate["floor"]) + " ms.",
            ""]

    def write(self, profiles, elapsed):
        args = self.args
        cpu, cores, memory_gib, kernel, rustc, wrk_version, node_version = machine()
        smoke = args.mode == "smoke"
        lines = [
            "# Benchmarks",
            "",
            f"Written by `bench/run.sh{' --smoke' if smoke else ''}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
            f" (the measurements took {elapsed / 60:.1f} min)."
            + (" **Smoke run: debug build, 1 s per case; these numbers say only that the script works.**" if smoke else ""),
            "",
            "## Machine",
            "",
            f"- CPU: {cpu}, {cores} cores; memory {memory_gib:.1f} GiB; Linux {kernel}",
            f"- {rustc}; {wrk_version}; Node.js {node_version}; build: "
            + ("debug" if smoke else "release (thin LTO, 1 codegen unit)"),
            "- Everything on loopback, on this one machine. "
            + ("`/healthcheck`, `/` and the open-loop probe: the load generator on CPU "
               f"{CPUS[0]}, the server under test on CPU {CPUS[1]} (`taskset`), bare hyper and the app alike; the "
               "shared-cores rows run the same with nothing pinned. "
               if PINNED else "Nothing pinned (fewer than two CPUs, or no `taskset`). ")
            + "The flows: wrk (1 thread), the server, the sandbox as a separate process and the floor, unpinned.",
            "",
            "## Method",
            "",
            f"- **A** is the baseline, **B** the app. Each throughput case runs A and B for {self.seconds} s each, "
            f"{self.rounds} round(s), A first in odd rounds and B first in even ones; {CONNECTIONS} keep-alive "
            "connections; the figures are medians over the rounds.",
            "- The app runs as `cargo run` starts it: every protection on, the default log level (`RUST_LOG` unset:",
            "  info, one line per request except health probes, which log at debug), output to /dev/null. Only its",
            "  password attempt limit is raised (`FAILED_ATTEMPTS_PER_MINUTE=1000000`): wrk is one address.",
            "- `/healthcheck` baseline: `examples/bare_hyper.rs`, hyper 1 on the same Tokio runtime with no router,",
            "  middleware or logging, answering with the app's exact bytes (and `/` with its landing page).",
            "- Latency: wrk's p99 is taken at saturation (every connection always busy, so it measures queueing).",
            "  The open-loop rows use `examples/fixed_rate.rs` (one thread): requests at a",
            f"  fixed rate spread over {CONNECTIONS} connections, each one's latency counted from its due time (no",
            f"  coordinated omission), at {FIXED_RATE:,} requests/s and at half of bare hyper's saturated rate in this",
            f"  run; {max(self.seconds // 2, 1)} s per side, alternating, medians over the rounds.",
            "- The floor: `examples/bare_flow.rs`, the least an app on this stack can do for one flow (hyper,",
            "  reqwest and serde_json; no router, middleware, logging, masking or teaching page; a one-line answer),",
            "  against the same sandbox, in the same rounds (after A and B).",
            "- Full password flow: the sandbox runs as its own process (`--sandbox-only`, its defaults); the app runs",
            "  in live mode pointed at it (`BITBUCKET_SANDBOX=false`, `BITBUCKET_URL`, `BITBUCKET_API_URL`) and serves",
            "  `POST /oauth-callback` with demo/demo: a token request, `GET /2.0/user`, the result page (a page",
            "  without \"Demo User\" counts as an error). The baseline is `bench/node-original/`, a Node.js port",
            "  of the original (Express, the same form POST, the same two calls to the same sandbox, an HTML page).",
            f"- CPU per flow: utime + stime from `/proc/PID/stat` of the app and of the sandbox, read before and",
            f"  after {self.fixed_flows:,} flows ({CONNECTIONS} connections), divided by the flows; once per round.",
            "- CPU per flow at a fixed rate (issue 21): `examples/fixed_rate.rs` posts the password form open loop, "
            f"at a fixed rate ({FLOW_RATE:,} flows/s in a full run) over {CONNECTIONS} connections, to the app and to "
            "the floor in turn (alternating, once per round, as long as a throughput case); CPU per flow is the "
            "server's utime + stime delta (all threads) divided by the flows answered. The same work per second "
            "for both, so the ratio does not depend on how fast either could go on a busy machine.",
            "- The page alone: `examples/render_page.rs` makes one real flow against the same sandbox with the app's "
            "own settings, client and recording, builds the result page as the app does, and renders it 2,000 "
            "times on one thread (CPU time of that thread); under callgrind, 110 renders less 10.",
            "- Builds (issue 21): the app's clean debug build (`cargo build`, empty target directory), then its first "
            "`cargo test --no-run` in the same directory, and the floor crate's clean debug build (`bench/floor/`: "
            "axum, askama, reqwest on rustls with ring, tokio, tower-http, tracing, serde with the app's features, "
            "one template and one JSON call, the app's versions and debug profile), alternating app and floor "
            f"{BUILD_ROUNDS} times, one cargo home, downloads fetched beforehand (`--offline`); medians.",
            f"- Memory: the app's RSS sampled every 20 ms while {FLOW_MEMORY_CONNECTIONS} connections send flows for "
            f"{self.seconds} s, then 3 s after.",
            "",
            "## Results",
            "",
            "| case | A: baseline | B: app | B/A | target | |",
            "|---|---|---|---|---|---|",
            *self.rows,
            "",
            *self.extra,
        ]
        if profiles:
            lines += profile_section(profiles)
        lines += misses_section(self.missed, self.values)
        text = "\n".join(lines).rstrip() + "\n"
        with open(args.out, "w") as f:
            f.write(text)
        print(f"\nwritten to {args.out}\n")
        print(text)


def profile_section(profiles):
    lines = ["## Profiles (callgrind: instructions, exact and reproducible)", ""]
    app, floor, render = profiles["floor"]["app"], profiles["floor"]["floor"], profiles["floor"]["render"]
    extra = app["per_request"] - floor["per_request"]
    lines += [f"- One password flow: the app {app['per_request']:,.0f} instructions, the floor (`examples/bare_flow.rs`) "
              f"{floor['per_request']:,.0f} ({app['per_request'] / floor['per_request']:.2f}×); the result page "
              f"rendered alone (`examples/render_page.rs`) {render:,.0f}, {100 * render / extra:.0f}% of the "
              f"{extra:,.0f} the app spends beyond the floor."]
    if "healthcheck" in profiles:
        bare, health = profiles["healthcheck"]
        sandbox, _ = profiles["flow"]
        lines += [f"- `/healthcheck`: bare hyper {bare['per_request']:,.0f} instructions per request, the app "
                  f"{health['per_request']:,.0f} ({health['per_request'] / bare['per_request']:.2f}×).",
                  f"- One password flow in the sandbox serving it: {sandbox['per_request']:,.0f} instructions "
                  f"(the app {app['per_request'] / sandbox['per_request']:.2f}× that)."]
    lines += [""]
    # Where the rest goes: each function's instructions per flow in the app, less the floor's.
    more = {k: v - floor["per_function"].get(k, 0) for k, v in app["per_function"].items()}
    lines += ["Where the app's flow goes beyond the floor's: the functions with the most instructions per flow "
              "more than in the floor (exclusive instructions, the app's count less the floor's; "
              "askama's and `fmt`'s functions are the page's rendering):", "",
              "| instructions per flow | % of the app's extra | function |", "|---|---|---|"]
    lines += [f"| {v:,.0f} | {100 * v / extra:.1f} | `{k}` |"
              for k, v in sorted(more.items(), key=lambda kv: -kv[1])[:15]] + [""]
    tables = [("the app serving a password flow", app), ("the floor serving a password flow", floor)]
    if "healthcheck" in profiles:
        tables = [("the app serving `/healthcheck`", profiles["healthcheck"][1])] + tables + [
            ("the sandbox serving a password flow", profiles["flow"][0])]
    for title, result in tables:
        lines += [f"Top functions of {title} (exclusive instructions):", "", "| % | function |", "|---|---|"]
        lines += [f"| {pct:.1f} | `{name}` |" for pct, name in result["top"]] + [""]
    return lines


# What the profiles showed when these targets were missed, and what remains (see docs/performance.md).
FINDINGS = {
    "healthcheck": (
        "- **`/healthcheck` against bare hyper.** Both answer the same bytes over the same hyper. Probes are "
        "answered by the listener itself (the shortcut in `src/server/`, with the route's own status, headers and "
        "body from a prebuilt map), before the body is boxed for axum or `ConnectInfo` inserted; what remains "
        "per probe is the shortcut's checks, the longer header map (the security headers) and the clock "
        "read per read and write that the connection's deadlines use."),
    "healthcheck-p99": (
        "- **`/healthcheck` p99.** Read at saturation: 32 connections kept full by wrk. {p99_where} is "
        "the queue of requests in front of each one: a costlier probe lengthens it (instructions: the extra "
        "security headers hyper encodes, the header map cloned for them, the shortcut's checks, the clock "
        "read per read and write for the deadlines), and so does any stall; single rounds swing either way "
        "(the raw rounds above). Tried, in scratch builds measured with wrk: hyper's request-head timer was replaced by one "
        "timer per connection for both deadlines, and the app with its shutdown watcher or its deadline timer "
        "switched off kept the same tail: no single piece we could remove holds it."),
    "healthcheck-shared-p99": (
        "- **`/healthcheck` p99 with wrk and the server sharing both CPUs.** wrk and the server's two Tokio "
        "workers are three busy threads on two CPUs, and the kernel time-slices them: the tail is where a "
        "worker or wrk waits for a CPU, a scheduler slice of a millisecond or two. Bare hyper's own p99 "
        "swings with it (0.63 to 2.16 ms between 4-second runs while this was investigated; this run's rounds "
        "are listed above). With the load generator and the server on separate CPUs (the pinned rows) the "
        "same two servers are compared without that noise."),
    "healthcheck-shared": (
        "- **`/healthcheck` throughput sharing both CPUs.** wrk and the server's two Tokio workers are three "
        "busy threads on two CPUs: the reading depends on how the kernel shares them (compare the pinned row)."),
    "flow-rps": (
        "- **Flows/s against the Node.js port.** The app reaches {app_vs_node:.1f}× the Node port's rate; the "
        "floor, which does nothing but the two calls and a one-line answer, reaches {floor_vs_node:.1f}× "
        "({floor_rps:,.0f} flows/s). 10× is {target_rps:,.0f} flows/s. wrk, the sandbox, the server and "
        "loopback TCP share 2 cores, and at that rate the sandbox alone ({sandbox_us:.0f} µs of CPU per flow) "
        "would need {sandbox_cores:.2f} cores. {floor_verdict}"),
    "flow-cpu": (
        "- **CPU per flow against the sandbox.** The floor, which does nothing but serve one exchange and be "
        "the client of two, already spends {floor_ratio:.2f}× the sandbox's CPU per flow: the sandbox serves "
        "two small exchanges, the floor three, and a flow's system time (loopback TCP, wake-ups) follows the "
        "exchanges. {headroom} The app spends {app_us:.0f} µs per flow, {over_floor:.2f}× the floor's "
        "{floor_us:.0f} µs, on the floor's work and its own: recording both exchanges with every secret masked, explaining them, rendering the "
        "page that teaches with HTML escaping, logging the request. Cut over the last two rounds: glibc malloc replaced by mimalloc (it was 15-19% of "
        "the app's CPU per flow, with futex waits on its arena locks: 82 to 70 µs per flow), masking that "
        "copied every text once per secret, `partial()` collecting a `Vec<char>`, a full URL parse to show each "
        "request's `Host`, and the API's answer parsed twice. Where the app's instructions go beyond the "
        "floor's, function by function, is in the profile above."),
    "flow-at-rate": (
        "- **CPU per flow against the floor, at a fixed rate.** At {flow_rate:,} flows/s (open loop, the same "
        "work per second for both) the app spends {rate_app_us:.0f} µs of CPU per flow, {rate_ratio:.2f}× the "
        "floor's {rate_floor_us:.0f} µs. Rendering the result page on its own takes {render_us:.1f} µs, "
        "{render_share:.0%} of the difference; callgrind's profile of the flow (a full run) lists, function by function, where the rest "
        "({rest_us:.0f} µs) goes."),
    "build-ratio": (
        "- **Clean debug build against the floor crate.** The app's clean build took {app_build:.1f} s for "
        "{app_units} units, {build_ratio:.2f}× the floor's {floor_build:.1f} s for {floor_units}: the units "
        "beyond the floor are the app's own crate and the dependencies the floor does not have (the slowest "
        "crates of each are listed above)."),
    "test-build-ratio": (
        "- **The first `cargo test --no-run` after `cargo build`.** It took {test_build:.1f} s for {test_units} "
        "more units, {test_ratio:.2f}× the clean build: the test harness builds of the library and binary, every "
        "integration test and example, and the dev-dependencies (the slowest crates are listed above)."),
    "rss-idle": (
        "- **RSS idle after the flows.** The allocator keeps some freed memory for reuse; "
        "the pooled upstream connections stay open (reqwest's idle pool) and hold their buffers."),
    "build": (
        "- **Clean debug build.** The slowest crates are listed above: the app itself, rustls and ring "
        "(reqwest's TLS, needed for https to bitbucket.org), tokio, askama's parser and derive, clap, axum. "
        "Both cores are busy from the start until the app's own crate, so the build is bounded by the total "
        "work, not by one chain."),
}


def misses_section(missed, values):
    notes = [note.format(**values) for key, note in FINDINGS.items() if key in missed]
    fixed_missed = sorted(key for key in missed if key.startswith("p99-at-"))
    modest = f"p99-at-{FIXED_RATE}"
    if fixed_missed and modest not in fixed_missed:
        notes.append(
            f"- **p99 at half of bare hyper's rate.** At {FIXED_RATE:,} requests/s the app's tail matches bare hyper's; "
            "at half of bare hyper's maximum it does not. Open loop, a slower server is charged for every request it "
            "delays: the app's higher cost per probe (the instruction counts above) brings on the queueing that "
            "drives the tail sooner.")
    elif fixed_missed:
        notes.append(
            "- **p99 at fixed rates.** The app's tail is longer than bare hyper's even at a modest fixed rate, "
            "where neither is near saturation: a per-request cost shows in the tail, not only queueing.")
    if not notes:
        return []
    return ["## Missed targets: what the profile shows and what remains", "", *notes, ""]


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        memory_gib = int(f.readline().split()[1]) / 1024 / 1024
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0].split(" [")[0]
    node_version = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return cpu, os.cpu_count(), memory_gib, platform.release(), rustc, wrk_version, node_version


if __name__ == "__main__":
    main()
