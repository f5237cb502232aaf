"""Show a run's search tree offline: `python visualize_log.py LOG_DIR` writes LOG_DIR/tree.html."""

from drpo.visualize.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
