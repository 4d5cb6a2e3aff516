"""Hold numpy's BLAS (and OpenMP) to a run's thread budget inside the worker process.

The runner also sets OMP_NUM_THREADS and friends before the worker starts; this covers runs
started any other way (tests, scripts, `run(ctx)` called in-process). Oversubscribed BLAS threads
on a busy machine run many times slower than one thread. Standard library + threadpoolctl
(a scikit-learn dependency) when present; otherwise a no-op.
"""

from __future__ import annotations

import contextlib
from typing import Iterator


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[None]:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with threadpool_limits(limits=max(1, int(n))):
        yield
