"""Search-based prompt optimizers (APE, OPRO) on the companion's generators and scoring.

Both search over one task-level instruction that is put before every question of a task.
They see only demonstration and dev items (:mod:`.split`), never the items the methods are
compared on, and every model call they make is counted (:mod:`.cost`).
"""
