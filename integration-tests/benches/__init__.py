"""`make bench`: ecs-discoverer against its peer (`bench`), events against polling
(`bench_events`), the file_sd I/O floor (`bench_file_floor`), the reloader's memory
(`bench_reloader`) and an A/B of two builds (`bench_ab`). Results in `results/`. Run from
integration-tests/ as modules: `python -m benches.bench`."""
