"""`--cluster local:2` against the real servers: the whole LocalCluster (client, scheduler and both worker
processes) runs in the lab's client namespace, and its reports equal the single-process run's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from compare_runs import same_as_one_process
from labnet import Lab

try:
    import distributed  # noqa: F401
except ImportError:  # pragma: no cover - CI installs the extra
    if os.environ.get("MAILPROBE_REQUIRE_LAB"):
        raise
    pytest.skip("Dask is not installed: pip install 'mailprobe[cluster]'", allow_module_level=True)


def test_a_local_cluster_in_the_lab_gives_the_single_process_reports(lab: Lab, tmp_path: Path) -> None:
    same_as_one_process(lab, tmp_path, "--cluster", "local:2,chunk=2,per-destination=8")
