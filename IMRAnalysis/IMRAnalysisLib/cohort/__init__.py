"""Many patients at once: batch runs, the cohort table, the paper's statistics and a report."""
