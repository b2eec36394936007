"""Code a hostile editor would put in a ``code`` node (issue 8, finding 2; issue 15, item 3), shared by the
connectors' sandbox tests and the end-to-end tests.

Each probe is a ``run(items)`` that tries one way out and reports what it got, so a test can assert on
what the code saw rather than on the absence of an error.
"""

from __future__ import annotations

#: items: [{"service_pid": N}]; reads every environ it can find, the service's above all
ENVIRON = """
import os

def run(items):
    service_pid = items[0]["service_pid"]
    pids = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
    read = {}
    for pid in [service_pid, 1, *pids]:
        try:
            with open(f"/proc/{pid}/environ", "rb") as environ:
                read[str(pid)] = environ.read().decode(errors="replace")
        except OSError as exc:
            read[str(pid)] = type(exc).__name__
    return [{"service_pid": service_pid, "environ": read, "own": dict(os.environ), "pids": pids}]
"""

#: items: [{"paths": [...]}]; what of the service's files the code can see or read (also through /proc/1/root)
FILES = """
import os

def attempt(path):
    if not os.path.lexists(path):
        return "absent"
    try:
        if os.path.isdir(path):
            return "listed: " + ", ".join(sorted(os.listdir(path))[:20])
        with open(path, "rb") as file:
            return "read %d bytes" % len(file.read())
    except OSError as exc:
        return type(exc).__name__

def run(items):
    paths = items[0]["paths"]
    seen = {path: attempt(path) for path in paths}
    seen.update({"/proc/1/root" + path: attempt("/proc/1/root" + path) for path in paths})
    return [{"seen": seen, "root": sorted(os.listdir("/")), "etc": sorted(os.listdir("/etc"))}]
"""

#: items: [{"modules": [...], "paths": [...]}]; imports each module with ``paths`` (site-packages) on sys.path
IMPORTS = """
import importlib
import sys

def run(items):
    sys.path.extend(items[0]["paths"])
    outcome = {}
    for name in items[0]["modules"]:
        try:
            importlib.import_module(name)
            outcome[name] = "imported"
        except ImportError as exc:
            outcome[name] = type(exc).__name__
    return [{"imports": outcome}]
"""

#: items: [{"targets": [[host, port], ...]}]; opens a TCP connection to each
CONNECT = """
import socket

def run(items):
    outcome = {}
    for host, port in items[0]["targets"]:
        try:
            socket.create_connection((host, port), timeout=3).close()
            outcome[f"{host}:{port}"] = "connected"
        except OSError as exc:
            outcome[f"{host}:{port}"] = type(exc).__name__
    return [{"connect": outcome, "interfaces": [name for _, name in socket.if_nameindex()]}]
"""

#: items: [{"marker": "0.<digits>"}]; leaves a setsid child and a double-forked grandchild sleeping, and returns
#: once both run (how many it saw)
ESCAPE = """
import os
import time

def sleep_forever(marker):
    os.execv("/bin/sleep", ["sleep", "3600", marker])

def running(marker):
    count = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                count += marker.encode() in cmdline.read().split(b"\\0")
        except OSError:
            pass
    return count

def run(items):
    marker = items[0]["marker"]
    if os.fork() == 0:
        os.setsid()
        sleep_forever(marker)
    if os.fork() == 0:
        if os.fork() == 0:
            os.setsid()
            sleep_forever(marker)
        os._exit(0)
    deadline = time.monotonic() + 10
    while running(marker) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    return [{"running": running(marker)}]
"""

#: items: [{"marker": "0.<digits>"}]; runs a child for two seconds, so the host can look at it meanwhile
WATCHED_CHILD = """
import os
import subprocess

def run(items):
    subprocess.run(["/bin/sleep", "2", items[0]["marker"]], check=True)
    return [{"uid": os.getuid()}]
"""

#: items: [{"numbers": {name: syscall number}}]; tries the kernel interfaces the seccomp filter refuses
SYSCALLS = """
import ctypes
import errno
import os
import subprocess
import threading

libc = ctypes.CDLL(None, use_errno=True)

def call(numbers, name, *arguments):
    result = libc.syscall(numbers[name], *arguments)
    return "allowed" if result >= 0 else errno.errorcode[ctypes.get_errno()]

def run(items):
    numbers = items[0]["numbers"]
    scratch = ctypes.create_string_buffer(256)
    seen = {
        "unshare(CLONE_NEWUSER)": call(numbers, "unshare", 0x10000000),
        "unshare(CLONE_NEWNS)": call(numbers, "unshare", 0x00020000),
        "mount": call(numbers, "mount", b"none", b"/tmp", b"tmpfs", 0, 0),
        "keyctl": call(numbers, "keyctl", 0, 0),
        "bpf": call(numbers, "bpf", 0, ctypes.byref(scratch), 128),
        "io_uring_setup": call(numbers, "io_uring_setup", 8, ctypes.byref(scratch)),
        "perf_event_open": call(numbers, "perf_event_open", ctypes.byref(scratch), 0, -1, -1, 0),
        "ptrace": call(numbers, "ptrace", 0, 0, 0, 0),
    }
    worker = threading.Thread(target=lambda: None)
    worker.start()
    worker.join()
    child = os.fork()
    if child == 0:
        os._exit(0)
    os.waitpid(child, 0)
    seen["thread, fork and exec"] = subprocess.run(["/bin/true"]).returncode
    return [{"seen": seen}]
"""

FORK_BOMB = """
import os

def run(items):
    while True:
        try:
            os.fork()
        except OSError:
            pass
"""

MEMORY_BOMB = """
def run(items):
    hoard = []
    while True:
        hoard.append(bytearray(16 * 1024 * 1024))
"""

CPU_SPIN = """
def run(items):
    while True:
        pass
"""

HUGE_OUTPUT = """
import sys

def run(items):
    for _ in range(2000):
        sys.stdout.write("x" * 65536)
    return [{"blob": "y" * (70 * 1024 * 1024)}]
"""

IGNORES_SIGTERM = """
import os
import signal
import time

def run(items):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if os.fork() == 0:
        os.setsid()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(1)
"""

#: bombs, the node parameters they run with, and the node error each must end in
BOMBS = {
    "fork bomb": (FORK_BOMB, {"timeout_seconds": 2}, "code node exceeded its time limit of 2 s"),
    "memory bomb": (MEMORY_BOMB, {"memory_mb": 64}, "code node exceeded its memory limit of 64 MB"),
    "cpu spin": (CPU_SPIN, {"timeout_seconds": 2}, "code node exceeded its time limit of 2 s"),
    "huge output": (HUGE_OUTPUT, {"memory_mb": 512}, "run() returned more than 64 MiB of items"),
    "ignores SIGTERM": (IGNORES_SIGTERM, {"timeout_seconds": 2}, "code node exceeded its time limit of 2 s"),
}

HEALTHY = "def run(items):\n    return [{'n': item['n'] + 1} for item in items]\n"

#: the same probes in JavaScript. items: [{"service_pid", "paths", "targets", "marker"}]; returns what it saw:
#: every environ it could read, each path, each TCP connection, and how many detached children it saw running
JAVASCRIPT = """
const fs = require("fs");
const net = require("net");
const { spawn } = require("child_process");

function attempt(path) {
  if (!fs.existsSync(path)) return "absent";
  try {
    if (fs.statSync(path).isDirectory()) return "listed: " + fs.readdirSync(path).join(", ");
    return "read " + fs.readFileSync(path).length;
  } catch (error) {
    return error.code;
  }
}

function connect(host, port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 3000 });
    socket.on("connect", () => { socket.destroy(); resolve("connected"); });
    socket.on("error", (error) => resolve(error.code));
    socket.on("timeout", () => { socket.destroy(); resolve("timeout"); });
  });
}

function running(marker) {
  let count = 0;
  for (const pid of fs.readdirSync("/proc").filter((name) => /^\\d+$/.test(name))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\\0").includes(marker)) count++;
    } catch (error) {}
  }
  return count;
}

async function run(items) {
  const { service_pid, paths, targets, marker } = items[0];
  const pids = fs.readdirSync("/proc").filter((name) => /^\\d+$/.test(name)).map(Number);
  const environ = {};
  for (const pid of [service_pid, ...pids]) {
    try {
      environ[pid] = fs.readFileSync(`/proc/${pid}/environ`, "latin1");
    } catch (error) {
      environ[pid] = error.code;
    }
  }
  const seen = Object.fromEntries(paths.map((path) => [path, attempt(path)]));
  const connected = {};
  for (const [host, port] of targets) connected[`${host}:${port}`] = await connect(host, port);
  spawn("/bin/sleep", ["3600", marker], { detached: true, stdio: "ignore" }).unref();
  const deadline = Date.now() + 10000;
  while (running(marker) < 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  return [{ service_pid, environ, seen, connected, running: running(marker), uid: process.getuid() }];
}
"""

JAVASCRIPT_FORK_BOMB = """
const { spawn } = require("child_process");
function run() {
  for (;;) {
    try {
      const child = spawn("/usr/bin/node", ["-e", "setInterval(() => {}, 1000)"], { detached: true, stdio: "ignore" });
      child.on("error", () => {});
    } catch (error) {}
  }
}
"""

JAVASCRIPT_IGNORES_SIGTERM = """
function run() {
  process.on("SIGTERM", () => {});
  return new Promise(() => setInterval(() => {}, 1000));
}
"""

JAVASCRIPT_BOMBS = {
    "fork bomb": (JAVASCRIPT_FORK_BOMB, {"timeout_seconds": 2}, "code node exceeded its time limit of 2 s"),
    "memory bomb": (
        "function run() { const held = []; for (;;) held.push(Buffer.alloc(16 * 1024 * 1024)); }",
        {"memory_mb": 64},
        "code node exceeded its memory limit of 64 MB",
    ),
    "cpu spin": ("function run() { for (;;) {} }", {"timeout_seconds": 2}, "code node exceeded its time limit of 2 s"),
    "huge output": (
        'function run() { for (let i = 0; i < 2000; i++) console.log("x".repeat(65536)); '
        'return [{ blob: "y".repeat(70 * 1024 * 1024) }]; }',
        {"memory_mb": 512},
        "run() returned more than 64 MiB of items",
    ),
    "ignores SIGTERM": (JAVASCRIPT_IGNORES_SIGTERM, {"timeout_seconds": 2}, "code node exceeded its time limit of 2 s"),
}
