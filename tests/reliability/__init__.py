"""The reliability suite: one test per case of research/reliability.md section 7."""
