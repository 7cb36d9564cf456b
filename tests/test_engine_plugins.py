"""A third-party package adds an engine through the edge_talker.engines entry point: installed
(pip, from tests/data/acme-asr), its `type` is validated by check-config like a built-in one and
used by the product; without it, or broken, the config names what is wrong."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.test_hear import SAMPLES

PLUGIN = Path(__file__).parent / "data" / "acme-asr"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The plugin package installed by pip into a directory of its own, put on the path of the
    product's processes (so the test venv itself is left as it was)."""
    target, source = tmp_path_factory.mktemp("plugin-site"), tmp_path_factory.mktemp("plugin-src") / "acme-asr"
    shutil.copytree(PLUGIN, source)  # the build writes beside the sources: not into the checkout
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--target", str(target), str(source)], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return target


def with_site(site: Path) -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}


def test_an_installed_engine_package_is_configured_checked_and_used(site, tmp_path):
    config = tmp_path / "acme.toml"
    config.write_text('[asr]\ntype = "acme-asr"\nwords = "hello from acme"\n', encoding="utf-8")
    checked = run_cli("check-config", "--config", str(config), env=with_site(site))
    assert checked.returncode == 0, checked.stderr
    heard = run_cli("transcribe", str(SAMPLES / "en-hello_world.wav"), "--config", str(config), env=with_site(site))
    assert heard.returncode == 0 and heard.stdout.strip() == "hello from acme", heard.stdout + heard.stderr

    config.write_text('[asr]\ntype = "acme-asr"\nwords = ""\n', encoding="utf-8")  # its own rules hold
    refused = run_cli("check-config", "--config", str(config), env=with_site(site))
    assert refused.returncode != 0 and "asr.acme-asr.words" in refused.stderr, refused.stderr


def test_without_the_package_or_with_a_broken_one_the_config_says_so(site, tmp_path):
    config = tmp_path / "acme.toml"
    config.write_text('[asr]\ntype = "acme-asr"\nwords = "hello"\n', encoding="utf-8")
    missing = run_cli("check-config", "--config", str(config))
    assert missing.returncode != 0 and "acme-asr" in missing.stderr and "whisper" in missing.stderr, missing.stderr
    assert "Traceback" not in missing.stderr

    broken = tmp_path / "broken-site"
    broken.mkdir()
    for entry in site.iterdir():
        target = broken / entry.name
        if entry.name == "acme_asr.py":
            target.write_text("raise ImportError('acme licence expired')\n", encoding="utf-8")
        else:
            os.symlink(entry, target)
    fine = tmp_path / "fine.toml"
    fine.write_text('[think]\ntype = "echo"\n', encoding="utf-8")
    still = run_cli("check-config", "--config", str(fine), env=with_site(broken))
    assert still.returncode == 0, f"a broken engine package stopped the kiosk: {still.stderr}"
    assert "acme licence expired" in still.stderr, "the operator is told which package is broken"
