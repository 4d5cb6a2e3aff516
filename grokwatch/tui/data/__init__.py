"""The dashboard's data layer: bounded per-run summaries, a fast tolerant CSV tail, and the
store of runs. Standard library and numpy only (no Textual, no torch), so the bulk loader can
run in a worker process and the benchmarks can use it directly."""
