"""`python -m grokwatch.runner --config FILE --project-dir DIR`: the detached runner."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from ..config import ConfigError
from .core import Runner, RunnerBusy, StateDirUnwritable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grokwatch.runner")
    parser.add_argument("--config", required=True)
    parser.add_argument("--project-dir", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(message)s")
    runner = Runner(Path(args.config), Path(args.project_dir))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def _terminate(_sig, _frame):
        logging.info("SIGTERM: stopping every run, then exiting")
        runner.stop_runs(None)
        runner.shutting_down = True

    signal.signal(signal.SIGTERM, _terminate)
    try:
        runner.start()
    except (ConfigError, RunnerBusy, StateDirUnwritable) as err:
        logging.error("%s", err)
        return 2
    try:
        runner.run_forever()
    except Exception:
        logging.exception("runner crashed; workers keep running and the next grokwatch re-adopts them")
        return 1
    logging.info("queue drained and no viewer attached: exiting")
    return 0


if __name__ == "__main__":
    sys.exit(main())
