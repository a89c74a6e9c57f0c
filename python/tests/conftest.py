"""Fixtures for the Python package's tests: archives of the bundled sample and the real-speech
fixtures, on disk and, when `tests/run` started an S3 server (moto), on S3."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

import verbatim

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "samples" / "python-for-hpc.json"
FIXTURES = REPO / "tests" / "fixtures" / "external"


def cli() -> str:
    """The verbatim binary `cargo test` built (the tests compare the package with it)."""
    target = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "verbatim-target"))
    binary = target / "debug" / "verbatim"
    if not binary.exists():
        pytest.skip(f"no verbatim binary at {binary}: run `cargo build --workspace` first")
    return str(binary)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([cli(), *args], check=True, capture_output=True, text=True)


@pytest.fixture(scope="session")
def archive_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive of the sample and the real-speech fixtures, ingested by the package."""
    path = tmp_path_factory.mktemp("archive") / "captions"
    archive = verbatim.Archive(path, memory_limit="512MiB", threads=2)
    report = archive.ingest([SAMPLE, FIXTURES / "oxide-and-friends", FIXTURES / "ytt-api-json-real"], progress=False)
    assert report["documents"]["added"] >= 3, report
    return path


@pytest.fixture()
def archive(archive_path: Path) -> verbatim.Archive:
    return verbatim.Archive(archive_path, memory_limit="512MiB", threads=2)


@pytest.fixture(scope="session")
def s3_uri() -> str:
    bucket = os.environ.get("VERBATIM_TEST_S3_BUCKET")
    if not bucket:
        pytest.skip("no S3 server: tests/run starts one (VERBATIM_TEST_S3_BUCKET)")
    return f"s3://{bucket}/python-{uuid.uuid4().hex[:8]}"
