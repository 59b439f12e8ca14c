#!/usr/bin/env python3
"""Runs the benchmark cases (see run.sh) and writes BENCHMARKS.md.

Everything runs on loopback: the app, the bare hyper baseline, the sandbox as its own process,
and wrk. Each case alternates A (baseline) and B (app) over several rounds and reports medians, so
that noise on this shared machine hits both sides alike.
"""

import argparse
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONNECTIONS = 32
BASIC = "Basic c2FuZGJveC1jb25zdW1lci1rZXk6c2FuZGJveC1jb25zdW1lci1zZWNyZXQ="  # sandbox-consumer-key:sandbox-consumer-secret

LUA_DONE = """
local threads = {}
setup = function(thread) table.insert(threads, thread) end
bad = 0
done = function(summary, latency, requests)
  local e = summary.errors
  local wrong = 0
  for _, thread in ipairs(threads) do wrong = wrong + (thread:get("bad") or 0) end
  io.write(string.format('BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout + wrong))
end
"""

# For the full flow: a 200 page without the profile (the API call inside failed) is an error too.
LUA_EXPECT = """
response = function(status, headers, body)
  if not string.find(body, "%s", 1, true) then bad = bad + 1 end
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


def wait_ready(url, limit=30):
    started = time.time()
    while time.time() - started < limit:
        try:
            if get(url, timeout=1)[0] == 200:
                return
        except OSError:
            time.sleep(0.02)
    sys.exit(f"{url} never answered")


class Process:
    def __init__(self, name, command, env=None, ready=None):
        self.name = name
        # wrk is one address with many connections; the per-address password attempt limit
        # (10 in flight or refused per minute) would turn the flow case into 429s.
        full_env = dict(os.environ, RUST_LOG="warn", FAILED_ATTEMPTS_PER_MINUTE="1000000")
        full_env.update(env or {})
        self.proc = subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if ready:
            wait_ready(ready)

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def wrk(url, seconds, connections, method="GET", body=None, headers=None, expect=None):
    script = LUA_DONE + f'wrk.method = "{method}"\n'
    if expect:
        script += LUA_EXPECT % expect
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


def median(values):
    return statistics.median(values)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["full", "smoke"], default="full")
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--out", required=True, help="where to write the report")
    args = parser.parse_args()
    full = args.mode == "full"
    rounds, seconds = (3, 10) if full else (1, 1)
    app_bin = os.path.join(args.bin_dir, "bitbucket-password-grant")
    bare_bin = os.path.join(args.bin_dir, "examples", "bare_hyper")

    # The app in sandbox mode (as `cargo run` starts it), quiet logging.
    app_port = free_port()
    app = Process("app", [app_bin, "--port", str(app_port)], ready=f"http://127.0.0.1:{app_port}/healthcheck")
    app_url = f"http://127.0.0.1:{app_port}"
    # The same app with its default logging (every request at info), output thrown away.
    logged_port = free_port()
    logged = Process("app-logged", [app_bin, "--port", str(logged_port)], env={"RUST_LOG": ""},
                     ready=f"http://127.0.0.1:{logged_port}/healthcheck")
    logged_url = f"http://127.0.0.1:{logged_port}"

    # The baseline serves the landing page's exact bytes, fetched from the app.
    landing = get(app_url + "/")[1]
    page_file = tempfile.NamedTemporaryFile(suffix=".html", delete=False)
    page_file.write(landing)
    page_file.close()
    bare_port = free_port()
    bare = Process("bare", [bare_bin, f"127.0.0.1:{bare_port}", page_file.name, "static/style.css"],
                   ready=f"http://127.0.0.1:{bare_port}/healthcheck")
    bare_url = f"http://127.0.0.1:{bare_port}"
    assert get(bare_url + "/")[1] == landing, "the baseline must serve the same bytes"
    assert get(bare_url + "/healthcheck")[1] == get(app_url + "/healthcheck")[1]

    # The sandbox as its own process, and the app in live mode pointed at it.
    sandbox_port = free_port()
    sandbox = Process("sandbox", [app_bin, "--sandbox-only", "--port", str(sandbox_port)])
    sandbox_url = f"http://127.0.0.1:{sandbox_port}/sandbox"
    wait_listening(sandbox_port)
    live_port = free_port()
    live = Process("app-live", [app_bin, "--port", str(live_port)], env={
        "BITBUCKET_SANDBOX": "false", "BITBUCKET_URL": sandbox_url, "BITBUCKET_API_URL": sandbox_url + "/api",
    }, ready=f"http://127.0.0.1:{live_port}/healthcheck")
    live_url = f"http://127.0.0.1:{live_port}"

    login = {"method": "POST", "body": "username=demo&password=demo", "expect": "Demo User",
             "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
    token_call = {"method": "POST", "body": "grant_type=password&username=demo&password=demo",
                  "headers": {"Content-Type": "application/x-www-form-urlencoded", "Authorization": BASIC}}

    # Memory first, on processes that have served only a few requests: "idle" means idle.
    for path in ["/", "/healthcheck", "/static/style.css"]:
        get(app_url + path)
    memory = measure_memory(app, app_url, bare, bare_url)

    # Warm-up: connections, allocators, caches.
    for url in [bare_url + "/healthcheck", app_url + "/healthcheck", app_url + "/", live_url + "/oauth-callback"]:
        wrk(url, 1, 4, **(login if url.endswith("callback") else {}))

    cases = {name: {"A": [], "B": []} for name in
             ["healthcheck", "healthcheck-logged", "landing", "static", "flow-rps", "flow-latency"]}
    direct = {"token-rps": [], "user-rps": [], "token-p50": [], "user-p50": []}
    for round_number in range(rounds):
        print(f"round {round_number + 1}/{rounds}", flush=True)
        cases["healthcheck"]["A"].append(wrk(bare_url + "/healthcheck", seconds, CONNECTIONS))
        cases["healthcheck"]["B"].append(wrk(app_url + "/healthcheck", seconds, CONNECTIONS))
        cases["healthcheck-logged"]["A"].append(wrk(bare_url + "/healthcheck", seconds, CONNECTIONS))
        cases["healthcheck-logged"]["B"].append(wrk(logged_url + "/healthcheck", seconds, CONNECTIONS))
        cases["landing"]["A"].append(wrk(bare_url + "/", seconds, CONNECTIONS))
        cases["landing"]["B"].append(wrk(app_url + "/", seconds, CONNECTIONS))
        cases["static"]["A"].append(wrk(bare_url + "/static/style.css", seconds, CONNECTIONS))
        cases["static"]["B"].append(wrk(app_url + "/static/style.css", seconds, CONNECTIONS))
        # The full flow: the two upstream calls made directly (A), then through the app (B).
        t = wrk(sandbox_url + "/site/oauth2/access_token", seconds, CONNECTIONS, **token_call)
        u = wrk(sandbox_url + "/api/2.0/user", seconds, CONNECTIONS, **fresh_bearer(sandbox_url, token_call))
        direct["token-rps"].append(t["rps"])
        direct["user-rps"].append(u["rps"])
        cases["flow-rps"]["B"].append(wrk(live_url + "/oauth-callback", seconds, CONNECTIONS, **login))
        t1 = wrk(sandbox_url + "/site/oauth2/access_token", seconds, 1, **token_call)
        u1 = wrk(sandbox_url + "/api/2.0/user", seconds, 1, **fresh_bearer(sandbox_url, token_call))
        direct["token-p50"].append(t1["p50_us"])
        direct["user-p50"].append(u1["p50_us"])
        cases["flow-latency"]["B"].append(wrk(live_url + "/oauth-callback", seconds, 1, **login))

    # After every round of load: what the allocator kept.
    memory["app_after_load"] = app.rss_kib()
    startup = measure_startup(app_bin, 20 if full else 2)

    for process in [app, logged, bare, sandbox, live]:
        process.stop()
    os.unlink(page_file.name)
    write_report(args, rounds, seconds, cases, direct, memory, startup, len(landing))


def fresh_bearer(sandbox_url, token_call):
    """A token issued just now, for a run of `GET /2.0/user`."""
    body = get(sandbox_url + "/site/oauth2/access_token", token_call["headers"], token_call["body"].encode())[1]
    return {"headers": {"Authorization": f"Bearer {json.loads(body)['access_token']}"}}


def wait_listening(port):
    """The sandbox has no healthcheck: wait until its port accepts connections."""
    started = time.time()
    while time.time() - started < 30:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.02)
    sys.exit("the sandbox never started")


def open_keepalive_connections(url, count):
    host, port = url.replace("http://", "").split(":")
    sockets = []
    for _ in range(count):
        s = socket.create_connection((host, int(port)))
        s.sendall(b"GET /healthcheck HTTP/1.1\r\nHost: bench\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
        sockets.append(s)
    return sockets


def measure_memory(app, app_url, bare, bare_url):
    time.sleep(1)
    result = {"app_idle": app.rss_kib(), "bare_idle": bare.rss_kib()}
    held = open_keepalive_connections(app_url, 1000)
    time.sleep(0.5)
    result["app_1000"] = app.rss_kib()
    for s in held:
        s.close()
    held = open_keepalive_connections(bare_url, 1000)
    time.sleep(0.5)
    result["bare_1000"] = bare.rss_kib()
    for s in held:
        s.close()
    return result


def measure_startup(app_bin, runs):
    times = []
    for _ in range(runs):
        port = free_port()
        started = time.perf_counter()
        process = subprocess.Popen([app_bin, "--port", str(port)], cwd=ROOT,
                                   env=dict(os.environ, RUST_LOG="warn", FAILED_ATTEMPTS_PER_MINUTE="1000000"), stdout=subprocess.DEVNULL)
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
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    return cpu, os.cpu_count(), memory_gib, platform.release(), rustc, wrk_version


def write_report(args, rounds, seconds, cases, direct, memory, startup, landing_bytes):
    def med(case, side, key):
        return median([r[key] for r in cases[case][side]])

    rows = []

    def row(what, a, b, ratio, target, met, unit=""):
        rows.append(f"| {what} | {a}{unit} | {b}{unit} | {ratio} | {target} | {'yes' if met else '**no**'} |")

    for case, label in [("healthcheck", "`/healthcheck`"), ("landing", f"`/` ({landing_bytes:,} bytes)"),
                        ("static", "`/static/style.css`"), ("healthcheck-logged", "`/healthcheck`, app logging every request at info")]:
        a, b = med(case, "A", "rps"), med(case, "B", "rps")
        target = {"healthcheck": 0.9, "landing": 0.7}.get(case)
        row(f"{label}: requests/s", f"{a:,.0f}", f"{b:,.0f}", f"{b / a:.2f}",
            f"≥ {target}" if target else "(none)", target is None or b / a >= target)
        if case in ("healthcheck", "healthcheck-logged"):
            pa, pb = med(case, "A", "p99_us"), med(case, "B", "p99_us")
            target = 1.2 if case == "healthcheck" else None
            row(f"{label}: p99 latency", f"{pa / 1000:.2f} ms", f"{pb / 1000:.2f} ms", f"{pb / pa:.2f}",
                f"≤ {target}" if target else "(none)", target is None or pb / pa <= target)

    direct_rps = median([1 / (1 / t + 1 / u) for t, u in zip(direct["token-rps"], direct["user-rps"])])
    app_rps = med("flow-rps", "B", "rps")
    row("full flow: flows/s (32 connections)", f"{direct_rps:,.0f}", f"{app_rps:,.0f}", f"{app_rps / direct_rps:.2f}",
        "≥ 0.8", app_rps / direct_rps >= 0.8)
    direct_p50 = median([t + u for t, u in zip(direct["token-p50"], direct["user-p50"])])
    app_p50 = med("flow-latency", "B", "p50_us")
    added = app_p50 / direct_p50 - 1
    row("full flow: median latency (1 connection)", f"{direct_p50 / 1000:.2f} ms", f"{app_p50 / 1000:.2f} ms",
        f"+{added * 100:.0f}%", "≤ +15%", added <= 0.15)

    mib = lambda kib: f"{kib / 1024:.1f} MiB"
    startup_ms = median(startup)
    cpu, cores, memory_gib, kernel, rustc, wrk_version = machine()
    lines = [
        "# Benchmarks",
        "",
        f"Written by `bench/run.sh{' --smoke' if args.mode == 'smoke' else ''}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}."
        + (" **Smoke run: debug build, 1 s per case; these numbers say only that the script works.**" if args.mode == "smoke" else ""),
        "",
        "## Machine",
        "",
        f"- CPU: {cpu}, {cores} cores; memory {memory_gib:.1f} GiB; Linux {kernel}",
        f"- {rustc}; {wrk_version.strip()}; build: {'release (thin LTO, 1 codegen unit)' if args.mode == 'full' else 'debug'}",
        "- Everything on loopback, on this one machine, sharing its cores: wrk (1 thread), the servers, and for the",
        "  full flow the sandbox as a separate process.",
        "",
        "## Method",
        "",
        f"- **A** is the baseline, **B** the app. Each case runs A then B, {rounds} round(s), {seconds} s each, "
        f"{CONNECTIONS} keep-alive connections unless noted; the figures are medians over the rounds.",
        "- Baseline: `examples/bare_hyper.rs`, hyper 1 on the same Tokio runtime with no router, middleware or logging,",
        "  answering `/healthcheck` with the app's exact bytes and `/` with the app's rendered landing page, byte for byte.",
        "- The app runs as `cargo run` would (sandbox mode) with `RUST_LOG=warn`; the last row repeats `/healthcheck`",
        "  with the default logging (a line per request, to /dev/null) to show what that costs.",
        "- Full flow: the sandbox runs as its own process (`--sandbox-only`); the app (live mode, pointed at it) serves",
        "  `POST /oauth-callback` with demo/demo: a token request, then `GET /2.0/user`, then the result page.",
        "  A is the same two calls made by wrk directly against the sandbox: flows/s is 1/(1/token rps + 1/user rps),",
        "  the median flow latency is the sum of the two medians, measured with 1 connection (no queueing).",
        "",
        "## Results",
        "",
        "| case | A: baseline | B: app | B/A | target | met |",
        "|---|---|---|---|---|---|",
        *rows,
        f"| RSS idle (fresh process, a few requests served) | {mib(memory['bare_idle'])} | {mib(memory['app_idle'])} | | app ≤ 15 MiB | {'yes' if memory['app_idle'] <= 15 * 1024 else '**no**'} |",
        f"| RSS with 1,000 open keep-alive connections | {mib(memory['bare_1000'])} | {mib(memory['app_1000'])} | | app ≤ 60 MiB | {'yes' if memory['app_1000'] <= 60 * 1024 else '**no**'} |",
        f"| RSS after all the rounds above, idle again | | {mib(memory['app_after_load'])} | | (none) | |",
        f"| start-up to first `/healthcheck` 200 (median of {len(startup)}; each then stopped by SIGTERM) | | {startup_ms:.1f} ms | | ≤ 100 ms | {'yes' if startup_ms <= 100 else '**no**'} |",
        "",
        "Raw rounds (requests/s, A then B): " + "; ".join(
            f"{name}: " + ", ".join(f"{a['rps']:,.0f}/{b['rps']:,.0f}" for a, b in zip(case['A'], case['B']))
            for name, case in cases.items() if case["A"]),
        "",
    ]
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print(f"\nwritten to {args.out}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
