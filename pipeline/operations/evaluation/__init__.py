"""``rabbitcam eval``: what the detectors find on labelled footage, measured offline.

The worker's own chain code runs on each clip or picture of a dataset folder
(``dataset``: its layout), with no broker; per kind it prints and writes:

- falls: recall, false alarms (per clip and per hour of footage), the delay
  from the annotated onset, and per clip a timeline of what the fall rule saw;
- emotion: accuracy, balanced accuracy, per-class recall, a confusion matrix;
- people: precision and recall at IoU 0.5 on the annotated frames;
- head pose: mean absolute error of yaw, pitch and roll.

Results go to ``--out`` (``results.json`` and PNG pictures), written whole or
not at all: into a scratch folder first, renamed into place at the end.
"""
