"""DRPO: Dynamic Rewarding with Prompt Optimization (Singla et al., EMNLP 2024).

A base model is aligned by searching over its system prompt: at depth d the candidate prompt
answers training query d, a metrics model picks the aspects that matter for that query, a
judge scores the answer on them, and the mean score is the reward; the optimiser rewrites the
prompt from that evaluation.
"""
