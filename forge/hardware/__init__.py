"""Hardware detection (nvidia-ml-py, no torch import) and the `hardware=auto` resolver."""
