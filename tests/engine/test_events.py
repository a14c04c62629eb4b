"""What the CLI shows: humans get a tqdm bar per stage (logs above it), scripts JSON lines."""

from __future__ import annotations

import io
import json

from engine.cli.events import HumanEvents, JsonlEvents


def test_human_events_draw_one_bar_per_stage_and_logs_between() -> None:
    err = io.StringIO()
    events = HumanEvents(err)
    for done in range(0, 11):
        events.progress(done, 10, "embed")
    events.log("warning", "three photos could not be read")
    events.progress(2, 4, "write")
    events.progress(1, 4, "write")  # a stage that restarts its count
    events.progress(4, 4, "write")
    events.error("the raster has no CRS", "assign one (Raster > Projections)")
    text = err.getvalue()
    assert "embed: 100%" in text and "10/10" in text
    assert "warning: three photos could not be read\n" in text
    assert "write: 100%" in text and "4/4" in text
    assert text.index("embed: 100%") < text.index("warning:") < text.index("write:")
    assert text.endswith("error: the raster has no CRS\nhint: assign one (Raster > Projections)\n")


def test_human_result_is_plain_lines_on_stdout(capsys) -> None:
    HumanEvents(io.StringIO()).result({"output": "field.tif", "chips": 12})
    assert capsys.readouterr().out == "output: field.tif\nchips: 12\n"


def test_jsonl_events_are_one_object_per_line_coalesced_per_percent() -> None:
    out = io.StringIO()
    events = JsonlEvents(out)
    for done in range(0, 1001):
        events.progress(done, 1000, "embed")
    events.result({"output": "x.tif"})
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    progress = [e for e in lines if e["event"] == "progress"]
    assert len(progress) == 101 and progress[-1]["done"] == 1000
    assert lines[-1] == {"event": "result", "outputs": {"output": "x.tif"}}
