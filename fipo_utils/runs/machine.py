"""What a measurement or a manifest records of the machine it ran on."""

from __future__ import annotations

from pathlib import Path


def cpu_flags() -> list[str]:
    """The CPU's vector-instruction flags (AVX, AVX2, FMA, AVX-512 parts, AMX) from
    ``/proc/cpuinfo``: matmul speed, and so every batching ratio, depends on them."""
    wanted = ("avx", "fma", "amx", "f16c", "sse4_2")
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return sorted(f for f in flags if f.startswith(wanted))
    except OSError:
        pass
    return []
