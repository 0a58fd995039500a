"""Pins, Dockerfile, environment.yml and CI stay consistent with each other."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt line is not an exact pin: {line!r}"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def _deps() -> list[str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = list(meta["dependencies"])
    for extra in meta["optional-dependencies"].values():
        deps += extra
    return deps


def test_every_dependency_is_pinned():
    pins = _pins()
    for dep in _deps():
        name = re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0]
        assert re.sub(r"[-_.]+", "-", name).lower() in pins, f"{name} is not pinned"
    assert pins["torch"] == "2.13.0"


def test_dockerfile_uses_the_pins_and_cuda_12_8():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM nvidia/cuda:12\.8[.\d]*-", text, re.M)
    assert "-c constraints.txt" in text
    assert "grep '^torch==' constraints.txt" in text and "cu128" in text
    assert "EVENTSEP_CACHE=" in text and "DOWNLOAD_WEIGHTS" in text
    assert 'CMD ["make", "reproduce", "PROFILE=paper"]' in text
    for path in re.findall(r"^COPY (\S+)", text, re.M):
        if path != ".":
            assert (ROOT / path).exists(), path


def test_environment_yml_uses_the_same_pins():
    text = (ROOT / "environment.yml").read_text()
    assert "-c constraints.txt" in text
    py = re.search(r"python=(\d+\.\d+)", text).group(1)
    assert tuple(map(int, py.split("."))) >= (3, 11)


def test_ci_runs_the_readme_test_command_offline():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci and "make test" in readme and "make reproduce" in readme
    assert "HF_HUB_OFFLINE=1" in ci and "rm -rf .venv" in ci


def test_lint_checks_the_layers_contract_before_the_tests():
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert tool["root_package"] == "eventsep"
    contracts = {c["type"]: c for c in tool["contracts"]}
    layers = [f"eventsep.{name}" for name in ("cli", "demo", "paper", "evaluation")]
    layers += [f"eventsep.{name}" for name in ("method", "models", "core")]
    assert contracts["layers"]["layers"] == layers
    assert "eventsep.method" in contracts["forbidden"]["source_modules"]
    assert contracts["forbidden"]["forbidden_modules"] == ["eventsep.paper"]
    # Every sub-package with Python modules is in a layer.
    packages = {p.parent.name for p in (ROOT / "eventsep").glob("*/__init__.py")}
    assert {f"eventsep.{p}" for p in packages} - {"eventsep.data"} == set(layers)
    lint = re.search(r"^lint:.*?(?=^\S)", (ROOT / "Makefile").read_text(), re.M | re.S).group(0)
    assert "ruff check" in lint and "lint-imports" in lint
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index("make lint") < ci.index("make test")
