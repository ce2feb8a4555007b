"""Performance measurements: ratios taken side by side in one process, never test assertions."""
