"""grokwatch: launch grokking, overfitting and double-descent runs, watch them live, get
alerted when a run suddenly generalises.

`import grokwatch` is cheap (standard library only), so a training script can do
`from grokwatch import log`.
"""

__version__ = "0.1.0"


def __getattr__(name):
    # `from grokwatch import log` hands out `grokwatch.client.log` itself (imported on first
    # use: `import grokwatch` stays cheap), so a call costs no extra import or argument repacking.
    if name == "log":
        from .client import log

        globals()["log"] = log
        return log
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["log", "__version__"]
