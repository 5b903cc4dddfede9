"""The README's API examples run, as written, against a live server on the demo hall."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from liveserver import REPO, all_day_config, serve_app

from hallq.config import load_config
from server.app import create_app


def api_block() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return next(b for b in blocks if "H=${HALLQ" in b)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_api_examples_run(tmp_path):
    config = load_config(all_day_config(REPO / "config" / "demo-hall.toml", tmp_path / "demo.toml"))
    app = create_app(config, tmp_path / "readme.db", supervise=False)
    with serve_app(app) as base:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", api_block()], env={"HALLQ": base, "PATH": "/usr/bin:/bin"},
            capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 0, result.stderr + result.stdout
    out = result.stdout.replace(" ", "")
    assert '"code":"C001"' in out and '"result":"accepted"' in out
    assert '"error":"not_due"' in out
    assert '"field":"colour"' in out
    assert "event:ticket.issued" in out


# -- every other command block ------------------------------------------------------------------
#
# Each ```sh block is run as written, from a scratch directory that looks like a checkout after
# set-up: `config/` is this checkout's, `var/` is empty, and `.venv/bin/hallq` / `.venv/bin/python`
# run this checkout's code with the test's interpreter. Only what a test machine must not do is
# changed: the server binds 127.0.0.1 on a free port instead of 0.0.0.0:8080 (nothing leaves
# loopback; 8080 may be taken), and curl examples address that server. Commands that run until
# stopped (`hallq serve`, `hallq sim`) are started in the background, waited for, and stopped at the
# end of their block (sim with Ctrl-C, which it must end with status 0; serve with SIGTERM).

BLOCK_SKIPS = {  # first line of a block -> why a test machine does not run it
    ".venv/bin/hallq notify --config": "runs until stopped beside a hall server and an SMS gateway "
                                       "(tests/test_notifier.py drives the same Notifier against both)",
    "bin/hallq demo      # set up": "sets the machine up (apt, venv) and runs the demo or the whole suite",
    "bin/hallq demo                       #": "runs the demo hall until Ctrl-C (tests/test_caller_demo.py runs it)",
    "HALLQ_KIOSK_PIN=2468 bin/hallq kiosk": "a kiosk needs a touch screen and a server at 10.0.0.5 (tests/kioskrig.py)",
    ".venv/bin/hallq caller --config": "a synopsis with [optional] parts, not a command",
    ".venv/bin/python bench/bench_allocation.py": "benchmarks take minutes and need wrk",
}
LONG_RUNNING = re.compile(r"\.venv/bin/hallq (serve|sim|county serve)\b")


def sh_blocks() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


def commands(block: str) -> list[str]:
    """The block's commands: continuation lines joined, comment lines dropped; a `$ ` transcript
    keeps only its `$` lines."""
    lines = block.replace("\\\n", " ").splitlines()
    if any(line.startswith("$ ") for line in lines):
        return [line[2:] for line in lines if line.startswith("$ ")]
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """A scratch directory laid out like a set-up checkout (see above)."""
    import sys

    root = tmp_path_factory.mktemp("readme-checkout")
    (root / "config").symlink_to(REPO / "config")
    (root / "var").mkdir()
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, run in (("hallq", f'exec "{sys.executable}" -m hallq.cli "$@"'), ("python", f'exec "{sys.executable}" "$@"')):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\nPYTHONPATH="{REPO}" {run}\n')
        script.chmod(0o755)
    return root


def run_block(block: str, cwd: Path, port: int, base: str | None = None, stdin: str = "") -> list[str]:
    """Run one block's commands in order; returns their outputs. Fails on the first that fails."""
    import signal
    import time

    outputs, background = [], []
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "HALLQ_PASSWORD": "readme-password-1"}
    try:
        for cmd in commands(block):
            cmd = cmd.replace("--host 0.0.0.0", "--host 127.0.0.1").replace("--port 8080", f"--port {port}")
            if base:
                cmd = cmd.replace("http://127.0.0.1:8080", base)
            if LONG_RUNNING.search(cmd):
                proc = subprocess.Popen(["bash", "-c", f"exec {cmd}"], cwd=cwd, env=env, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                background.append(proc)
                if " serve " in cmd:
                    _wait_healthy(proc, port)
                else:
                    _wait_line(proc, "# running")
                continue
            result = subprocess.run(["bash", "-euo", "pipefail", "-c", cmd], cwd=cwd, env=env, input=stdin,
                                    capture_output=True, text=True, timeout=120)
            assert result.returncode == 0, f"{cmd}\n{result.stderr}{result.stdout}"
            outputs.append(result.stdout)
        for proc in background:
            assert proc.poll() is None, proc.stdout.read()
            # hallq sim stops on Ctrl-C; hallq serve the way a service manager stops it (SIGTERM):
            # both with status 0
            serve = " serve " in proc.args[-1]
            proc.send_signal(signal.SIGTERM if serve else signal.SIGINT)
            deadline = time.monotonic() + 20
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert proc.returncode == 0, proc.stdout.read()
    finally:
        for proc in background:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return outputs


def _wait_line(proc: subprocess.Popen, marker: str) -> None:
    seen = []
    while True:
        line = proc.stdout.readline()
        assert line, f"ended before {marker!r}: {''.join(seen)}"
        seen.append(line)
        if marker in line:
            return


def _wait_healthy(proc: subprocess.Popen, port: int) -> None:
    import json
    import time
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2) as r:
                if json.load(r).get("ok") is not None:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("hallq serve never answered /api/v1/health")


def block_starting(prefix: str) -> str:
    found = [b for b in sh_blocks() if b.startswith(prefix)]
    assert len(found) == 1, f"{len(found)} README sh blocks start with {prefix!r}"
    return found[0]


RUN_BLOCKS = {  # first line of a block -> the test below that runs it
    "$ .venv/bin/hallq check-config": "test_readme_check_config_transcript",
    ".venv/bin/hallq serve --config config/demo-hall.toml --db var/hall.db --host": "test_readme_serve_blocks",
    ".venv/bin/hallq serve --config config/demo-hall.toml --db var/hall.db --port 8080": "test_readme_serve_blocks",
    ".venv/bin/hallq user add": "test_readme_user_block",
    'curl -fsS -H "Authorization: Bearer demo-supervisor"': "test_readme_supervisor_curls",
    "# Simulated devices for every bus": "test_readme_sim_blocks",
    ".venv/bin/hallq sim --config config/township.toml": "test_readme_sim_blocks",
    ".venv/bin/hallq simulate": "test_readme_simulate_block",
    "createdb hallq_county": "test_readme_county_block",
}


def test_every_readme_command_block_is_run_or_says_why_not():
    for block in sh_blocks():
        joined = block.replace("\\\n", " ")
        assert any(joined.startswith(p) for p in [*BLOCK_SKIPS, *RUN_BLOCKS]), f"README block not covered:\n{block}"


def test_readme_county_block(checkout, pg_url):
    """The county set-up as written, on the test's own fresh database instead of hallq_county."""
    from liveserver import free_port

    block = block_starting("createdb hallq_county")
    assert block.splitlines()[0].startswith("createdb hallq_county ")  # the fixture made the database
    rest = "\n".join(block.splitlines()[1:]).replace("postgresql:///hallq_county", pg_url).replace("--port 8090", "--port 8080")
    outputs = run_block(rest, checkout, free_port())
    assert len(outputs) == 2 and all(o.strip() for o in outputs)  # a hall token and a reader token printed


def test_readme_check_config_transcript(checkout):
    block = block_starting("$ .venv/bin/hallq check-config")
    expected = [line for line in block.splitlines() if line and not line.startswith("$ ")]
    [out] = run_block(block, checkout, 0)
    assert out.splitlines() == expected


def test_readme_serve_blocks(checkout):
    from liveserver import free_port

    for prefix in (".venv/bin/hallq serve --config config/demo-hall.toml --db var/hall.db --host",
                   ".venv/bin/hallq serve --config config/demo-hall.toml --db var/hall.db --port 8080"):
        run_block(block_starting(prefix), checkout, free_port())


def test_readme_user_block(checkout):
    """`hallq user add` asks for the password twice (from stdin here), `user list --config …` lists."""
    outputs = run_block(block_starting(".venv/bin/hallq user add"), checkout, 0,
                        stdin="readme-password-1\nreadme-password-1\n")
    listed = outputs[-1].split()
    assert "zhangsan" in listed and "c1001" in listed


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_supervisor_curls(tmp_path):
    config = load_config(REPO / "config" / "demo-hall.toml")
    app = create_app(config, tmp_path / "sup.db", supervise=False)
    with serve_app(app) as base:
        outputs = run_block(block_starting('curl -fsS -H "Authorization: Bearer demo-supervisor"'), tmp_path, 0, base)
    import json

    report, alerts, cases = (json.loads(o) for o in outputs)
    assert report["by"] == "department" and report["period"]["kind"] == "month"
    assert alerts == {"alerts": []} and cases == {"cases": []}


def test_readme_sim_blocks(checkout):
    outputs = run_block(block_starting("# Simulated devices for every bus"), checkout, 0)
    assert "callers" in outputs[-1] and "online" in outputs[-1]
    fault_block = next(b for b in sh_blocks() if "--control var/sim.ctl" in b)
    run_block(fault_block, checkout, 0)


def test_readme_simulate_block(checkout):
    block = block_starting(".venv/bin/hallq simulate")
    outputs = run_block(block, checkout, 0)
    assert len(outputs) == len(commands(block)) >= 4 and (checkout / "var" / "day.png").exists()
    assert "Traceback" not in outputs[-1] and "平均等候" in "".join(outputs)  # `| head` ends cleanly
