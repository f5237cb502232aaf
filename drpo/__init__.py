"""The application: prompt optimisation methods, their runs and artefacts, and the CLI."""
