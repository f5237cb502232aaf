"""ProTeGi / APO (Pryzant et al., EMNLP 2023, "Automatic Prompt Optimization with 'Gradient
Descent' and Beam Search"): textual gradients from minibatch errors, edits along them, Monte
Carlo paraphrases, and a beam selected by a bandit over eval minibatches."""
