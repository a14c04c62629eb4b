"""A warm process for the kill tests (no tests here): imports the engine once, then forks one
child per command, so each of the many killed runs costs no interpreter start-up.

Protocol, one JSON object per line on stdin -> one on stdout:
  {"argv": [...], "events": PATH}       -> {"pid": N}   the child runs engine.cli.main(argv),
                                                         its JSON events going to PATH
  {"wait": N, "timeout": S, "kill": B}  -> {"code": C} or {"killed": true} (SIGKILL after S s
                                                         when B, else it is waited for)
"""

from __future__ import annotations

import json
import os
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


def _wait(pid: int, timeout: float, kill: bool) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return {"code": os.waitstatus_to_exitcode(status)}
        time.sleep(0.005)
    if kill:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return {"killed": True}
    _, status = os.waitpid(pid, 0)
    return {"code": os.waitstatus_to_exitcode(status)}


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
