"""`forge sweep`: a grid of configs run as DVC experiments.

- `grid`: Hydra's sweep grammar expanded into points, each composed and validated first.
- `stages`: which dvc.yaml stages every point shares (run once, upstream).
- `pack`: GPU placement by the memory estimator (several small jobs to a GPU).
- `worker`: one point in its own temporary git workspace, as `dvc exp run`.
- `launch`: where workers run: local processes, Ray tasks, SLURM jobs (submitit).
- `state`, `report`: what finished (for a rerun), and the results table.
- `run`: the sweep itself, tying these together.
"""
