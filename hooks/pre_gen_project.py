"""Nothing is left to run here: every answer was checked while cookiecutter rendered this file.

Answers from `--replay`, `--replay-file`, the Python API or `cruft update` skip the questions and
their checks, so the `check_answers` filter (local_extensions.py) checks them all here. It runs at
render time, not in this script, so that a refusal ends generation with one clear message and a
command to run again, instead of a failed hook followed by cookiecutter's traceback.
"""
{{- cookiecutter | check_answers }}
