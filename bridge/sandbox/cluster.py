"""The Procfile's processes as real subprocesses, with a supervisor that restarts the dead.

Used by the fault-injection tests and by ``bench/soak.py``: several ``web`` and ``worker`` processes
on one Redis, killed with SIGKILL at crash points or at random, and restarted the way a platform
would restart them. Slack's side re-delivers an event that got no 200, as Slack does. The processes
run ``python -m bridge`` with this interpreter, from the directory that holds the ``bridge`` package.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bridge.sandbox.fixtures import environment
from bridge.sandbox.slack.server import SlackEmulator
from bridge.sandbox.x.server import XEmulator

ROOT = Path(__file__).resolve().parents[2]  # where ``python -m bridge`` finds this checkout's bridge


def free_port() -> int:
    """A TCP port on localhost that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    """One process of the Procfile, started again and again; what became of each start."""

    kind: str  # "web" or "worker"
    index: int
    port: int | None
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen | None = None
    starts: int = 0
    kills: int = 0
    crashes: int = 0  # died on their own (a crash point)
    exits: list[int] = field(default_factory=list)
    retired: bool = False  # stopped for good: the supervisor leaves it down

    def start(self, crash_at: str = "") -> None:
        env = {**self.env, "XDESK_CRASH_AT": crash_at}
        if self.port is not None:
            env["PORT"] = str(self.port)
        log = self.log_path.open("a")
        self.popen = subprocess.Popen([sys.executable, "-m", "bridge", self.kind], cwd=ROOT, env=env,
                                      stdout=log, stderr=log)
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


class Cluster:
    """``webs`` web and ``workers`` worker processes on one Redis, between the emulators, supervised."""

    def __init__(self, x: XEmulator, slack: SlackEmulator, redis_url: str, settings_path: Path, workdir: Path,
                 *, webs: int = 1, workers: int = 1, crash_at: str = "", extra_env: dict[str, str] | None = None):
        self.x, self.slack = x, slack
        base = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "SLACK_", "X_", "REDIS_"))}
        env = {**base, **environment(x, slack, redis_url), "BRIDGE_SETTINGS": str(settings_path),
               "BRIDGE_DATA_DIR": str(workdir / "var"), **(extra_env or {})}
        self.procs = [Proc("web", i, free_port(), env, workdir / f"web{i}.log") for i in range(webs)]
        self.procs += [Proc("worker", i, None, env, workdir / f"worker{i}.log") for i in range(workers)]
        self.crash_at = crash_at
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.supervisor = threading.Thread(target=self._supervise, daemon=True)
        self._next_web = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Cluster:
        for proc in self.procs:
            proc.start(self.crash_at)
        for proc in self.webs:
            self.wait_healthy(proc)
        self.slack.events_url = self.events_url()
        self.supervisor.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.supervisor.join()
        for proc in self.procs:
            if proc.alive:
                proc.popen.terminate()
        for proc in self.procs:
            if proc.popen is not None:
                proc.exits.append(proc.popen.wait(timeout=30))

    def _supervise(self) -> None:
        """Restart what died, without its crash point: a platform restarting a crashed dyno."""
        while not self.stopping.wait(0.05):
            with self.lock:
                for proc in self.procs:
                    if proc.popen is not None and not proc.alive and not proc.retired:
                        code = proc.popen.returncode
                        proc.exits.append(code)
                        if code == -signal.SIGKILL:
                            proc.crashes += 1
                        proc.start()

    @property
    def webs(self) -> list[Proc]:
        return [p for p in self.procs if p.kind == "web"]

    @property
    def workers(self) -> list[Proc]:
        return [p for p in self.procs if p.kind == "worker"]

    def events_url(self) -> str:
        """Round-robin over the web processes, as a load balancer in front of them would."""
        web = self.webs[self._next_web % len(self.webs)]
        self._next_web += 1
        return f"http://127.0.0.1:{web.port}/slack/events"

    def wait_healthy(self, proc: Proc, timeout: float = 60) -> None:
        # Generous: a web takes ~2 s to start on an idle machine, and under the random killer it
        # may be killed again while starting, several times in a row on a busy 2-core runner.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{proc.port}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)  # the process is starting: poll its health endpoint again shortly
        raise AssertionError(f"web{proc.index} never became healthy:\n{proc.log_path.read_text()[-3000:]}")

    def kill(self, proc: Proc) -> None:
        with self.lock:
            if proc.alive:
                proc.popen.send_signal(signal.SIGKILL)
                proc.kills += 1

    def retire(self, proc: Proc) -> None:
        """Stop ``proc`` for good (SIGTERM), as a platform scaling a process type down."""
        with self.lock:
            proc.retired = True
            if proc.alive:
                proc.popen.terminate()
        proc.popen.wait(timeout=30)

    def kill_randomly(self, rng: random.Random, stop: threading.Event, every: tuple[float, float]) -> threading.Thread:
        def killer() -> None:
            while not stop.wait(rng.uniform(*every)):
                self.kill(rng.choice(self.procs))

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        return thread

    # -- Slack's side of delivery ------------------------------------------------------------

    def act(self, action, *args, **kwargs):
        """Do a Slack user action; if the app did not answer 200, re-deliver as Slack would.

        Slack retries at once, after a minute and after five; here the waits are shorter but grow,
        so that a delivery in progress on a killed web (its lock held a few seconds) is retried
        after the lock is gone.
        """
        self.slack.events_url = self.events_url()
        result = action(*args, **kwargs)
        delivery = self.slack.deliveries[-1]
        for wait in (0, 0.5, 1, 2, 4, 8, 8, 8, 8, 8):
            if 200 in delivery.statuses:
                return result
            self.stopping.wait(wait)
            self.slack.events_url = self.events_url()
            for web in self.webs:
                self.wait_healthy(web)
            statuses = self.slack.deliver(delivery.event, event_id=delivery.event_id)
            delivery.statuses.extend(statuses)
        raise AssertionError(f"event {delivery.event_id} was never acknowledged")

    def logs(self) -> str:
        return "\n".join(p.log_path.read_text() for p in self.procs if p.log_path.exists())
