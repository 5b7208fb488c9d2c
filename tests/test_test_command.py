"""The README's test command is the one CI runs, and its script installs exactly the
system tools that are missing (checked on its dry path: nothing is installed here)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "install-test-deps.sh"


def readme_commands() -> list[str]:
    quick_start = (ROOT / "README.md").read_text().split("## Quick start")[1].split("\n## ")[0]
    return re.findall(r"```bash\n(.+?)\n```", quick_start)


def test_ci_runs_the_readme_test_command():
    first, second = readme_commands()
    assert "caption.py examples" in first
    assert second.startswith("bash scripts/install-test-deps.sh && ")
    assert second.endswith("python -m pytest")
    assert (ROOT / ".ci" / "run").read_text().rstrip().splitlines()[-1] == second


def run_script(path: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": path}
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_script_names_what_is_missing_and_the_apt_get_line(tmp_path):
    (tmp_path / "bash").symlink_to(shutil.which("bash"))  # a PATH without espeak-ng or java
    result = run_script(str(tmp_path), "--dry-run")
    assert result.returncode == 0, result.stderr
    missing = result.stdout.split("missing: ")[1].split(";")[0].split()
    assert (
        {"espeak-ng", "openjdk-17-jre-headless"}
        <= set(missing)
        <= {
            "chromium",
            "espeak-ng",
            "openjdk-17-jre-headless",
        }
    )
    assert f"apt-get install -y -qq {' '.join(missing)}" in result.stdout


def test_script_does_nothing_when_the_tools_are_there():
    # The tests that need them fail without them, so here they are installed.
    result = run_script(os.environ["PATH"])
    assert result.returncode == 0, result.stderr
    assert "are installed" in result.stdout


def test_script_refuses_unknown_arguments():
    assert run_script(os.environ["PATH"], "--force").returncode == 2
