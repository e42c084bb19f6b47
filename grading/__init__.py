"""Instructors only: grade a class's notebooks safely (students import attnlib, never this package).

    python -m grading grade SUBMISSIONS [--out DIR] [--jobs N] [--release notebooks] [--source solutions]

Pipeline (one submission): rebuild the notebook from the release, keeping
only the student's answer cells (assignment.py); run it in a bubblewrap
sandbox as a spare uid with time, memory, process, file and output limits
(sandbox.py, runner.py); right after each answer cell the sandbox calls the
student's function on secret inputs and sends back plain tensors; this
process compares them with attnlib's reference (scoring.py); feedback
without hidden tests (feedback.py); gradebook and CSV (pipeline.py).
"""
