"""A warm process for the kill tests (no tests here): imports the engine once, then forks one
child per command, so each of the many killed runs costs no interpreter start-up.

Protocol, one JSON object per line on stdin -> one on stdout:
  {"argv": [...], "events": PATH}       -> {"pid": N}   the child runs engine.cli.main(argv),
                                                         its JSON events going to PATH
  {"wait": N, "timeout": S, "kill": B}  -> {"code": C} or {"killed": true} (SIGKILL after S s
                                                         when B, else it is waited for), with
                                                         "s": seconds from this request to the
                                                         child's exit or its kill
The wait is woken by the child's exit itself (a pidfd), not by a poll, so a kill lands at its
time and a run's length is its own; and "killed" means the SIGKILL ended the child, read from
its exit status. (With a 5 ms poll, a kill meant for the end of a 20 ms run landed after it,
on the exited child, and was still counted as a kill: most of the "kills" in a short run's last
fifth hit nothing, the more so the faster the machine.)
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time


def _warm() -> None:
    import faiss  # noqa: F401
    import geopandas  # noqa: F401
    import pyogrio  # noqa: F401
    import rasterio  # noqa: F401
    import torch

    import engine.cli.main
    import engine.embed.points
    import engine.embed.raster
    import engine.maps.similarity
    import engine.models.folder  # noqa: F401

    torch.set_num_threads(1)


def _child(argv: list[str], events: str) -> None:
    from engine.cli.main import main

    fd = os.open(events, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    code = main([*argv, "--events", "jsonl"])
    sys.stdout.flush()
    os._exit(code)


def _ends_within(pid: int, timeout: float) -> bool:
    """Whether the child exits within `timeout` s (it is left unreaped either way)."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd (not Linux >= 5.3): a short poll instead
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
            time.sleep(0.0005)
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def _wait(pid: int, timeout: float, kill: bool) -> dict:
    t0 = time.monotonic()
    sent = kill and not _ends_within(pid, timeout)
    if sent:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    took = time.monotonic() - t0
    if sent and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        return {"killed": True, "s": took}
    return {"code": os.waitstatus_to_exitcode(status), "s": took}  # it ended by itself


def main() -> None:
    _warm()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        if "argv" in req:
            pid = os.fork()
            if pid == 0:
                _child(req["argv"], req["events"])
            reply = {"pid": pid}
        else:
            reply = _wait(int(req["wait"]), float(req["timeout"]), bool(req.get("kill")))
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
