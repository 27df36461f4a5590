"""A dataset's concurrency pool, given the instance's default limit before its runs queue.

Dagster's run queue (1.13) gives a pool the instance default (``concurrency.pools.
default_limit``) the first time it sees that pool among queued runs, but it reads the list
of limited pools before doing so: the runs queued in that first pass are not held. The
first tick of a dataset's sensor, which may queue its whole backlog, would start every one
of those runs at once. The sensor therefore sets the default first, with the same storage
call the queue uses.
"""

import dagster as dg


def ensure_pool_limit(instance: dg.DagsterInstance, pool: str) -> bool:
    """Give ``pool`` the instance's default limit if the instance has one and the pool has
    no limit yet; True when it did. A limit set by hand (UI, ``dagster instance
    concurrency set``) is kept."""
    storage = instance.event_log_storage
    if instance.global_op_concurrency_default_limit is None:
        return False
    if not storage.supports_global_concurrency_limits or pool in storage.get_concurrency_keys():
        return False
    storage.initialize_concurrency_limit_to_default(pool)
    return True
