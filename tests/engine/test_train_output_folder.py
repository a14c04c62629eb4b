"""A training run's output folder, driven through `python -m engine.train`'s main: a new run
into a folder holding an earlier run replaces that run's model and checkpoints together
when it commits (an earlier run's checkpoint never sits beside a new model, to be resumed
against it), keeps them whole until then, and a file training did not write there (a
user's config.yaml) is refused before any work, on every torchrun rank."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_train import tiny_overrides, write_tiny_city

from engine.cli.main import main
from engine.paths import project_root

ROOT = project_root()
RECIPE = ROOT / "models" / "urbanstcl_self.yaml"


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_city(tmp_path_factory.mktemp("city"), n_places=12)


def train(city: Path, out: Path, steps: int, dim: int, *extra: str,
          capsys: pytest.CaptureFixture) -> tuple[int, list[dict]]:
    """Run `train` with a tiny model of `dim`-d embeddings; (exit code, its JSON events)."""
    argv = ["train", "--config", str(RECIPE), *tiny_overrides(city, out, steps=steps),
            f"model.embedding_dim={dim}", *extra, "--events", "jsonl"]
    code = main(argv)
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return code, events


def checkpoints(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("step-*"))


def dim_of(out: Path) -> int:
    return yaml.safe_load((out / "config.yaml").read_text())["model"]["embedding_dim"]


def test_a_new_run_replaces_the_earlier_runs_checkpoints(city: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    """Run A (6 steps, checkpoints at 3 and 6), then run B (another model, 2 steps) into the
    same folder: B's checkpoint alone is left. Before, A's step-3 and step-6 stayed, and
    keeping the last two by name removed B's own step-2 (latest.json pointed at nothing)."""
    out = tmp_path / "run"
    assert train(city, out, 6, 16, "train.checkpoint_every=3", capsys=capsys)[0] == 0
    assert checkpoints(out / "checkpoints") == ["step-0000003", "step-0000006"]
    assert train(city, out, 2, 8, capsys=capsys)[0] == 0
    assert dim_of(out) == 8
    assert checkpoints(out / "checkpoints") == ["step-0000002"]
    assert json.loads((out / "checkpoints" / "latest.json").read_text())["step"] == 2
    state = json.loads((out / "checkpoints" / "step-0000002" / "state.json").read_text())
    assert "embedding_dim" in json.dumps(state) and not (out / "checkpoints.next").exists()
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no scratch left
    # A's recipe finds no checkpoint of its own to continue; B's continues where it stopped
    code, events = train(city, out, 8, 16, "--resume", capsys=capsys)
    assert code == 2 and "other settings" in events[-1]["message"]
    assert dim_of(out) == 8 and checkpoints(out / "checkpoints") == ["step-0000002"]
    code, events = train(city, out, 3, 8, "--resume", capsys=capsys)
    assert code == 0, events[-1]
    assert (out / "loss.csv").read_text().splitlines()[-1].startswith("3,")


def test_the_earlier_run_stays_whole_until_the_new_run_commits(
        city: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Run B fails while it writes its final files (the disk fills): the folder still holds
    run A's model, config and checkpoints, byte for byte, and B's checkpoints wait apart in
    checkpoints.next; --resume finishes B, whose commit then replaces all of A's."""
    from engine.train import outputs

    out = tmp_path / "run"
    assert train(city, out, 4, 16, "train.checkpoint_every=2", capsys=capsys)[0] == 0
    names = ("config.yaml", "model.safetensors", "objectives.safetensors", "loss.csv",
             "card.md")
    before = {n: (out / n).read_bytes() for n in names}
    a_state = (out / "checkpoints" / "step-0000004" / "state.json").read_bytes()

    def disk_full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outputs, "write_loss_png", disk_full)
    code, events = train(city, out, 2, 8, capsys=capsys)
    assert code != 0 and "disk is full" in events[-1]["message"]
    assert {n: (out / n).read_bytes() for n in names} == before
    assert checkpoints(out / "checkpoints") == ["step-0000002", "step-0000004"]
    assert (out / "checkpoints" / "step-0000004" / "state.json").read_bytes() == a_state
    assert checkpoints(out / "checkpoints.next") == ["step-0000002"]
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]
    monkeypatch.undo()
    code, events = train(city, out, 2, 8, "--resume", capsys=capsys)
    assert code == 0, events[-1]
    assert dim_of(out) == 8 and not (out / "checkpoints.next").exists()
    assert checkpoints(out / "checkpoints") == ["step-0000002"]
    assert (out / "checkpoints" / "step-0000002" / "state.json").read_bytes() != a_state


def test_a_new_run_drops_an_abandoned_runs_checkpoints(city: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A new run that was never resumed leaves checkpoints.next; the next new run (no
    --resume) starts over there without mixing the abandoned run's steps into its own."""
    from engine.train import outputs

    out = tmp_path / "run"
    monkeypatch.setattr(outputs, "write_loss_png", lambda *a: (_ for _ in ()).throw(
        OSError(28, "No space left on device")))
    assert train(city, out, 4, 16, "train.checkpoint_every=2", capsys=capsys)[0] != 0
    assert checkpoints(out / "checkpoints.next") == ["step-0000002", "step-0000004"]
    assert not (out / "config.yaml").exists()
    monkeypatch.undo()
    assert train(city, out, 1, 8, capsys=capsys)[0] == 0
    assert checkpoints(out / "checkpoints") == ["step-0000001"]
    assert dim_of(out) == 8 and not (out / "checkpoints.next").exists()


def test_a_killed_commit_is_finished_before_the_folder_is_judged(
        city: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A first run killed in its final commit, after model.safetensors moved in and before
    config.yaml did: its files are not a stranger's; the next run finishes that commit."""
    from engine.export.atomic import TAG

    out = tmp_path / "run"
    assert train(city, out, 2, 8, capsys=capsys)[0] == 0
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stage = out / f".model.safetensors{TAG}{dead.pid}-aaaa"
    stage.mkdir()
    os.replace(out / "config.yaml", stage / "config.yaml")
    journal = out / f".model.safetensors{TAG}{dead.pid}-bbbb.commit"
    journal.write_text(json.dumps([[str(stage / "config.yaml"), str(out / "config.yaml")]]))
    code, events = train(city, out, 2, 8, "--resume", capsys=capsys)
    assert code == 0, events[-1]
    assert dim_of(out) == 8 and not [p.name for p in out.iterdir() if p.name.startswith(".")]


FOREIGN = {
    "notes": "title: my study area\nnotes: the photos of 2023\n",
    "a model trained elsewhere": yaml.safe_dump({"model": {"embedding_dim": 16}}),
    "not YAML": "model: [unclosed\n",
}


@pytest.mark.parametrize("text", FOREIGN.values(), ids=FOREIGN.keys())
def test_a_config_yaml_training_did_not_write_is_refused(city: Path, tmp_path: Path, text: str,
                                                         capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "config.yaml").write_text(text)
    code, events = train(city, out, 2, 8, capsys=capsys)
    assert code == 2 and events[-1]["event"] == "error"
    assert str(out / "config.yaml") in events[-1]["message"]
    assert "overwrite" in events[-1]["message"] and "output=" in events[-1]["hint"]
    assert "\n" not in events[-1]["message"]
    assert not any(e["event"] == "progress" for e in events)  # before any work
    assert (out / "config.yaml").read_text() == text
    assert [p.name for p in out.iterdir()] == ["config.yaml"]


def test_a_run_file_beside_no_config_yaml_is_refused(city: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"someone else's weights")
    code, events = train(city, out, 2, 8, capsys=capsys)
    assert code == 2 and str(out / "model.safetensors") in events[-1]["message"]
    assert (out / "model.safetensors").read_bytes() == b"someone else's weights"


@pytest.mark.slow
def test_every_torchrun_rank_refuses_a_users_config_yaml(city: Path, tmp_path: Path) -> None:
    """Both ranks make the same check before the process group starts: both report the
    error and the job ends (no rank left waiting for the other)."""
    out = tmp_path / "mine"
    out.mkdir()
    (out / "config.yaml").write_text(FOREIGN["notes"])
    torchrun = Path(sys.executable).parent / "torchrun"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RANK", "WORLD_SIZE"))}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [str(torchrun), "--nproc_per_node", "2", "--standalone", "-m", "engine.train",
           "--config", str(RECIPE), "--events", "jsonl", *tiny_overrides(city, out, steps=2)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    errors = [json.loads(line) for line in proc.stdout.splitlines()
              if '"event": "error"' in line]
    assert len(errors) == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert all(str(out / "config.yaml") in e["message"] for e in errors)
    assert [p.name for p in out.iterdir()] == ["config.yaml"]
