"""Run a prompt optimisation: `python train.py --help`."""

from drpo.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
