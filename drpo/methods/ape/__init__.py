"""APE (Zhou et al., ICLR 2023): instructions induced from demonstrations, kept by their
score on a training subset, and resampled around the best (iterative Monte Carlo search)."""
