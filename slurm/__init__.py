"""mini-Quest: a private Slurm cluster on this machine (start.sh, stop.sh, configuration)
and its Python client (miniquest.py) for the tests and benchmarks."""
