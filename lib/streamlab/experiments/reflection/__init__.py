"""The reflection chapter's (05) material: the project's own record and its targets against this build.

`repo_history` reads git history and the test suite's size; `scorecard` reads the
verdicts chapters 03 and 04 saved and sets them beside the targets.
"""
