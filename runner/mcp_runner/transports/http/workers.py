"""``serve --transport http --workers N``: N worker processes serving one port.

The parent composes the runner once (a plugin that fails, fails once), binds and listens on
the port once and prints the banner, then forks the workers. Each worker enters the plugins'
lifespans and serves the shared listening socket on its own event loop; the kernel hands each
new connection to a worker that accepts it. The workers inherit one composition, so they
share the random `requestState` key when no `state_secrets` are set.

Stopping: a stop signal to the parent (SIGTERM, SIGINT, SIGHUP) closes the pipe each worker
watches, and every worker drains as on its own signal: requests in flight get
``shutdown_grace``, then the lifespans exit. A second signal to the parent sends SIGQUIT to
the workers, which ends their grace at once. Signals sent to the whole group (a terminal's
Ctrl-C, systemd) reach the workers too, and a worker drains once whichever comes first. A worker that is still running at ``shutdown_grace`` plus
`LIFESPAN_MARGIN` is killed. A worker that dies while serving is replaced; one that dies in
its first `START_SECONDS` stops them all.

Metrics: with the metrics builtin on and ``PROMETHEUS_MULTIPROC_DIR`` set, the parent empties
that directory before the first fork and tells prometheus-client of each worker that exits
(``mark_process_dead``), so the live gauges count running workers only.

POSIX only (``fork``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .server import STOP_SIGNALS, banner, bind

if TYPE_CHECKING:
    from ...runner import Runner

#: Seconds past ``shutdown_grace`` that a draining worker gets to exit its lifespans.
LIFESPAN_MARGIN = 5.0
#: A worker that dies this soon after its start failed to start: the others are stopped.
START_SECONDS = 5.0


@dataclass
class Worker:
    """One worker process, as the parent sees it."""

    index: int
    pid: int
    control: int  # the write end of the pipe the worker watches: closed, the worker drains
    started: float


def serve_workers(
    runner: Runner, workers: int, run: Callable[[Coroutine[Any, Any, None]], Any]
) -> int:
    """Serve `runner` over HTTP from `workers` forked processes, each running its event
    loop with `run`; returns the exit status once every worker has ended."""
    settings = runner.settings.http
    listener = bind(settings.host, settings.port)
    host, port = listener.getsockname()[:2]
    banner(host, port, settings.path, f" ({workers} workers)")
    return Supervisor(runner, listener, workers, run).run()


def metrics_directory(runner: Runner) -> str | None:
    """``PROMETHEUS_MULTIPROC_DIR`` when the metrics builtin is loaded and ``[metrics]`` is
    enabled (the workers then keep their metrics there); None otherwise."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    record = runner.host.records.get("metrics")
    if not directory or record is None or record.status != "ok":
        return None
    return directory if getattr(runner.settings.section("metrics"), "enabled", False) else None


def empty_directory(directory: str) -> None:
    """Remove the files in `directory` (a previous run's metrics); create it if missing."""
    os.makedirs(directory, exist_ok=True)
    for entry in os.scandir(directory):
        if entry.is_file(follow_symlinks=False):
            os.unlink(entry.path)


class Supervisor:
    """Forks the workers, replaces one that dies, and drains them all on a signal."""

    def __init__(
        self,
        runner: Runner,
        listener: socket.socket,
        count: int,
        run: Callable[[Coroutine[Any, Any, None]], Any],
    ) -> None:
        self.runner = runner
        self.listener = listener
        self.count = count
        self.run_loop = run
        self.workers: dict[int, Worker] = {}
        self.stopping = False
        self.status = 0
        self.metrics_directory = metrics_directory(runner)
        self.mark_process_dead: Callable[[int], None] | None = None

    def run(self) -> int:
        """Serve until every worker has ended; 0 when they all drained cleanly."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, self.on_signal)
        signal.signal(signal.SIGALRM, self.on_grace_over)
        if self.metrics_directory is not None:
            from prometheus_client import multiprocess

            self.mark_process_dead = multiprocess.mark_process_dead
            empty_directory(self.metrics_directory)
        for index in range(self.count):
            if self.stopping:
                break
            watched = self.fork(index)
            if watched is not None:  # in the new worker
                return self.serve(watched)
        while self.workers:
            pid, wait_status = os.wait()  # signals run their handlers, then it waits again
            worker = self.workers.pop(pid, None)
            if worker is None:
                continue
            if self.mark_process_dead is not None:
                self.mark_process_dead(pid)
            code = os.waitstatus_to_exitcode(wait_status)
            if self.stopping:  # ended by itself, or by the signal it was sent
                if code not in (0, -signal.SIGTERM, -signal.SIGQUIT):
                    self.status = 1
                continue
            os.close(worker.control)
            print(
                f"mcp-runner: worker {worker.index} (pid {pid}) exited with status {code}",
                file=sys.stderr,
                flush=True,
            )
            if time.monotonic() - worker.started < START_SECONDS:
                print("mcp-runner: a worker failed to start; stopping", file=sys.stderr, flush=True)
                self.status = 1
                self.stop()
            else:
                watched = self.fork(worker.index)
                if watched is not None:
                    return self.serve(watched)
        signal.setitimer(signal.ITIMER_REAL, 0)
        self.listener.close()
        return self.status

    def fork(self, index: int) -> int | None:
        """Start worker `index`; in the worker, the pipe to watch (None in the parent)."""
        watched, control = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(control)
            for other in self.workers.values():
                os.close(other.control)  # else it would keep another worker's pipe open
            return watched
        os.close(watched)
        self.workers[pid] = Worker(index, pid, control, time.monotonic())
        return None

    def serve(self, watched: int) -> int:
        """In a worker: serve the shared socket until told to stop; the exit status."""
        for sig in (*STOP_SIGNALS, signal.SIGQUIT, signal.SIGALRM):
            signal.signal(sig, signal.SIG_DFL)  # until the worker's loop handles them
        signal.signal(signal.SIGINT, signal.default_int_handler)
        self.workers.clear()  # the parent's, not this worker's
        try:
            self.run_loop(
                self.runner.serve(
                    "http", sockets=[self.listener], stop_when=watched, workers=self.count
                )
            )
        except KeyboardInterrupt:
            pass
        except Exception:
            traceback.print_exc()
            return 1
        return 0

    def on_signal(self, signum: int, frame: Any) -> None:
        """A stop signal to the parent: drain the workers; a second one ends the grace."""
        if self.stopping:
            for pid in self.workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGQUIT)  # the worker ends its grace
            return
        self.stop()

    def stop(self) -> None:
        """Tell every worker to drain, and set the deadline after which they are killed."""
        self.stopping = True
        for worker in self.workers.values():
            os.close(worker.control)
        deadline = self.runner.settings.server.shutdown_grace + LIFESPAN_MARGIN
        signal.setitimer(signal.ITIMER_REAL, deadline)

    def on_grace_over(self, signum: int, frame: Any) -> None:
        """Workers still running long past the grace are killed."""
        for worker in self.workers.values():
            print(
                f"mcp-runner: worker {worker.index} (pid {worker.pid}) did not stop in time; killed",
                file=sys.stderr,
                flush=True,
            )
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGKILL)
        self.status = 1
