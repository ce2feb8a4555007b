"""``fipo doctor --gpu``: the ten-minute check of every GPU code path of the paper profile.

:mod:`fipo_utils.doctor.steps` lists the steps (what each exercises, its timeout, what it
needs), :mod:`fipo_utils.doctor.checks` holds the checks that run inside a step's process,
and :mod:`fipo_utils.doctor.run` runs the steps, each in a process of its own under its own
timeout, and writes ``results.jsonl`` and ``report.md`` (docs/gpu.md).
"""
