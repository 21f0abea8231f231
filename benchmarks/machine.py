"""What machine a benchmark ran on, for the lines the result tables start with."""
from __future__ import annotations

import platform


def cpuinfo(field: str) -> str | None:
    """The first value of ``field`` ("model name", "cpu MHz") in /proc/cpuinfo; None where
    there is no such file or field."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == field:
                    return value.strip()
    except OSError:
        pass
    return None


def cpu_name() -> str:
    """The CPU's model name, or what the platform module knows of it."""
    return cpuinfo("model name") or platform.processor() or platform.machine()


def clock_hz() -> float:
    """The clock /proc/cpuinfo reports for the first core (nan where it does not)."""
    mhz = cpuinfo("cpu MHz")
    return float(mhz) * 1e6 if mhz else float("nan")
