"""`--cluster ADDRESS[,per-destination=N][,rate=R][,chunk=N]`: where to run and the cluster-wide limits.

ADDRESS: a Dask scheduler (`tcp://HOST:8786`, `tls://...`), or `local:N` for a LocalCluster of N worker
processes on this machine (`local`: one per core). Parsed without importing Dask; `require_dask` says how to
install it when it is missing.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

from mailprobe.decimal_text import is_decimal
from mailprobe.errors import UsageError

INSTALL_HINT = "--cluster needs Dask: pip install 'mailprobe[cluster]'"
DEFAULT_PER_DESTINATION = 16  # connections to one address at once, all workers together


@dataclass(frozen=True, slots=True)
class ClusterOptions:
    address: str = ""  # a Dask scheduler's address; "" for a local cluster
    local_workers: int = 0  # local:N
    per_destination: int = DEFAULT_PER_DESTINATION  # connections to one address at once, cluster-wide (0: none)
    rate: float = 0.0  # connection attempts per second, cluster-wide (0: not paced)
    chunk: int = 0  # targets per Dask task (0: chosen from the engine's admission window)


def parse_cluster(text: str) -> ClusterOptions:
    """`local:2`, `tcp://10.0.0.5:8786,per-destination=4,rate=200`; a UsageError for anything else."""
    where, *settings = [part.strip() for part in text.split(",")]
    options = _where(where, text)
    values: dict[str, float] = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep or key not in ("per-destination", "rate", "chunk"):
            raise UsageError(f"bad --cluster {text!r}: settings are per-destination=N, rate=R, chunk=N")
        try:
            number = float(value)
        except ValueError:
            raise UsageError(f"bad --cluster {text!r}: {key} must be a number") from None
        least = 0 if key != "chunk" else 1  # per-destination=0: no cluster-wide cap (each worker's own only)
        if number < 0 or (key != "rate" and (number < least or number != int(number))):
            kind = "number" if key == "rate" else "integer"
            raise UsageError(f"bad --cluster {text!r}: {key} must be a positive {kind}")
        values[key] = number
    return ClusterOptions(
        address=options.address,
        local_workers=options.local_workers,
        per_destination=int(values.get("per-destination", DEFAULT_PER_DESTINATION)),
        rate=values.get("rate", 0.0),
        chunk=int(values.get("chunk", 0)),
    )


def _where(where: str, text: str) -> ClusterOptions:
    if where == "local" or where.startswith("local:"):
        count = where.partition(":")[2] or str(os.cpu_count() or 1)
        if not is_decimal(count) or not 1 <= int(count) <= 256:
            raise UsageError(f"bad --cluster {text!r}: local:N with N worker processes, 1-256")
        return ClusterOptions(local_workers=int(count))
    scheme, sep, rest = where.partition("://")
    if not sep or not rest or scheme not in ("tcp", "tls", "ucx", "ws", "wss"):
        raise UsageError(f"bad --cluster {text!r}: give a scheduler address (tcp://HOST:8786) or local:N")
    return ClusterOptions(address=where)


def require_dask() -> None:
    """A UsageError naming the extra to install when Dask's distributed scheduler is not importable."""
    if importlib.util.find_spec("distributed") is None or importlib.util.find_spec("dask") is None:
        raise UsageError(INSTALL_HINT)
