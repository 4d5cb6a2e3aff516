"""`python -m grokwatch.detect FILE.csv [--json]` (the same as `grokwatch detect`)."""

import sys

from . import main_detect

sys.exit(main_detect(sys.argv[1:]))
