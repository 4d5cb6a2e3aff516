"""grokwatch: launch grokking, overfitting and double-descent runs, watch them live, get
alerted when a run suddenly generalises.

`import grokwatch` is cheap (standard library only), so a training script can do
`from grokwatch import log` (and `progress_stats`: grokwatch/logit_stats.py).
"""

__version__ = "0.1.0"


def __getattr__(name):
    # `from grokwatch import log` hands out `grokwatch.client.log` itself (imported on first
    # use: `import grokwatch` stays cheap), so a call costs no extra import or argument repacking.
    if name == "log":
        from .client import log

        globals()["log"] = log
        return log
    if name == "progress_stats":
        from .logit_stats import progress_stats

        globals()["progress_stats"] = progress_stats
        return progress_stats
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["log", "progress_stats", "__version__"]
