"""The launcher side of a sweep: up-front grid check, progress lines, device slots, sweep summary, resume.

No torch here: these run in the process that launches the jobs (or decide a job's share of the machine).
"""
