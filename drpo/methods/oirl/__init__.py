"""Prompt-OIRL: its offline prompting logs (the reward model is not built yet)."""
