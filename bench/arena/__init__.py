"""`python -m bench.arena`: the task-prompt methods compared on equal search budgets, over a
grid of methods x tasks x seeds (each a normal train.py run), with a results table, rankings,
anytime curves and an HTML report."""
