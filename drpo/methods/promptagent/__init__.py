"""PromptAgent (Wang et al., ICLR 2024): a task prompt optimised by MCTS over error-feedback
actions. From a prompt, the task model answers a batch of training examples; the optimiser
explains its errors (the error feedback) and writes a new prompt from that feedback and the
prompt's ancestors; the reward is the new prompt's accuracy on a held-out eval split."""
