"""The offline visualiser: `python visualize_log.py LOG_DIR` writes LOG_DIR/tree.html."""

from drpo.visualize.page import render_page
from drpo.visualize.page_data import page_data

__all__ = ["page_data", "render_page"]
