"""GPO (Tang et al., 2024): prompt optimisation by analogy with gradient-based optimisers.
The trajectory of prompts and their scores gives the update direction (retrieved prompts),
and an edit budget that decays over the steps gives the step size."""
