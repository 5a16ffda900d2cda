"""``python -m archbench.benchmark --job JOB --out OUT``: the child process of :mod:`.processes`."""

import sys

from archbench.benchmark.processes import child_main

sys.exit(child_main())
