"""The README's API examples run, as written, against a live server on the demo hall."""

from __future__ import annotations

import re
import shutil
import subprocess

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
