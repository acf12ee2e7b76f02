"""Shared phantom patients: generated once per test session, they are deterministic."""

from __future__ import annotations

from pathlib import Path

import pytest

from IMRAnalysisLib.phantom.template import PhantomPatient, make_phantom


@pytest.fixture(scope="session")
def default_phantom() -> PhantomPatient:
    return make_phantom("default")


@pytest.fixture(scope="session")
def phantom_files(default_phantom: PhantomPatient, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return default_phantom.write(tmp_path_factory.mktemp("phantom"), fmt="nrrd")
