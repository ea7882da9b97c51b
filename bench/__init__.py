"""livegate's benchmark: added latency, CPU per frame, capacity, memory and start-up, each against a
baseline measured in the same run (see README "Benchmark")."""
