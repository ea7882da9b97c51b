"""livegate's benchmark: added latency, CPU per frame, capacity, memory and start-up, each against two
pass-throughs measured in the same run (see README "Benchmark")."""

import os

# Each process of the benchmark is pinned to one core: a second BLAS thread could only compete with it.
# Set before numpy is first imported; the servers the benchmark starts inherit it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
