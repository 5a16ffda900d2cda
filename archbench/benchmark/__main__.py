"""``python -m archbench.benchmark JOB OUT``: one measuring process (:mod:`.worker`) started by hand."""

import sys

from archbench.benchmark.worker import main

sys.exit(main(sys.argv[1:]))
