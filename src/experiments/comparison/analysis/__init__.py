"""What the runs say: grouping and statistics over seeds, the effects of a grid (ANOVA, level means,
contrasts), when a ranking settles, searches trial by trial, and the findings in words.

Takes RunRecords, returns dataclasses; nothing here imports the writers.
"""
