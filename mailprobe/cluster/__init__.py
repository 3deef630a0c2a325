"""mailprobe on a Dask cluster: the same engine on every worker, targets streamed to them in chunks.

    mailprobe audit -i FILE --cluster tcp://SCHEDULER:8786      (or --cluster local:N: N worker processes here)
    async for position, report in mailprobe.audit_many(targets, client=client): ...

How targets flow (run.py): the client reads the targets lazily, cuts them into chunks (positions kept) and
keeps a few chunks per worker thread submitted as Dask tasks; each task (worker.py) runs mailprobe's own
engine (engine.indexed_stream: its scheduler, limits and guard) over its chunk in a thread of its own and
returns the chunk's per-target Reports, which come back straight from the worker (Dask's data path, not
through the scheduler) and go to the same finishing, rendering and JSONL streaming as a single-process run.

Faults: a worker that dies mid-chunk is Dask's to handle: the scheduler runs the chunk again elsewhere
(`distributed.scheduler.allowed-failures` times). Each target's report goes to the scheduler as soon as it is
finished (one way, on the worker's batched stream; kept there until its chunk returns), and each execution of
a chunk tells the scheduler it started (coordinator.py counts): a second start takes the reports the earlier
runs finished and runs only the unfinished targets, whose reports are marked `retried`. A chunk that killed
every worker it ran on comes back as KilledWorker: its finished reports are taken from the scheduler, its
unfinished targets run again one per task, and one that still kills every worker ends as that target's
RunError of kind `worker-lost`. Dask also counts a death against
the tasks merely queued on that worker: a one-target chunk that had started fewer times than its workers died
(the coordinator counts starts) was a bystander, and runs again (up to 3 times) rather than being blamed.
The client yields each position once (a chunk's result is taken once, and a position seen twice is
dropped), so every target is reported exactly once.

Limits (coordinator.py, a SchedulerPlugin with handlers on the scheduler, as Dask's own Semaphore is built):
per destination address, at most `per-destination` connections at once across the whole cluster (a session
holds 1, a target's port scan of the address as many as it probes at once), leased on the scheduler; and,
when `rate` is set, connection attempts per second across the cluster, paced on the scheduler in the same
round trip; a release goes one way on the worker's batched stream. Leases belong to a worker: the scheduler
frees a dead worker's leases the moment it removes it.

The guard: the client's MAILPROBE_ALLOW_ONLY goes with every chunk and is applied in the worker before the
engine starts (narrowed with the worker's own, if it has one), so a remote worker obeys the same networks.

Only this package imports Dask, and only when a cluster is used (options.py does not import it).
"""

from __future__ import annotations

from mailprobe.cluster.options import INSTALL_HINT, ClusterOptions, parse_cluster

__all__ = ["INSTALL_HINT", "ClusterOptions", "parse_cluster"]
