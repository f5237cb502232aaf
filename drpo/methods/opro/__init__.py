"""OPRO (Yang et al., ICLR 2024, "Large Language Models as Optimizers"): the optimiser LLM is
shown the best instructions found so far with their training accuracy, sorted ascending,
and a few task exemplars, and writes new instructions meant to score higher."""
