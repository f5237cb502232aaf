"""The toy method: a search on the toy prompt-building world, no LLM (`drpo.toy_run`)."""
