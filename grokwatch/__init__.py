"""grokwatch: launch grokking, overfitting and double-descent runs, watch them live, get
alerted when a run suddenly generalises.

`import grokwatch` is cheap (standard library only), so a training script can do
`from grokwatch import log`.
"""

__version__ = "0.1.0"


def log(step=None, **metrics):
    """Report metrics from your own training script; see `grokwatch.client`."""
    from .client import log as _log

    return _log(step=step, **metrics)


__all__ = ["log", "__version__"]
