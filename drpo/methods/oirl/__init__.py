"""Prompt-OIRL (Sun et al., ICLR 2024): a reward model learned from offline prompting logs
scores (query, prompt) pairs without calling the LLM, and best-of-N picks a prompt per query.

Modules: `logs`, `released`, `layout`, `data` (the logs and their splits), `collect`
(collecting our own), `embed` (embedders and their cache), `reward` and `training` (the
reward models and their selection on a validation split), `strategies` and `stats` (offline
scoring, bootstrap CIs, AUCs), `world` (the search interface), `run` (``train.py --method
oirl``), `choose` and `commands` (``python -m drpo.methods.oirl``).
"""
