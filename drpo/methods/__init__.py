"""The prompt optimisation methods, each a world model and search config on our interface."""
