"""Repository-root entry point: forwards to :mod:`archbench.cli` (``python cli.py list``)."""

from archbench.cli import main

if __name__ == "__main__":
    main()
