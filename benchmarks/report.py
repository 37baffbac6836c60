"""Describe the machine and format results as a Markdown table."""

from __future__ import annotations

import os
import platform
import subprocess


def machine() -> str:
    """CPU model, core count, Python, torch and library versions, one line each."""
    import sklearn
    import torch

    model = platform.processor() or "unknown CPU"
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines()
                     if line.startswith("Model name"))
    except (OSError, StopIteration):
        pass
    lines = [
        f"- CPU: {model}, {os.cpu_count()} logical cores, "
        f"torch threads: {torch.get_num_threads()}",
        f"- Python {platform.python_version()}, torch {torch.__version__}, "
        f"scikit-learn {sklearn.__version__}, skorch {_skorch_version()}",
        f"- CUDA: {'available' if torch.cuda.is_available() else 'not available'}",
    ]
    return "\n".join(lines)


def _skorch_version() -> str:
    try:
        import skorch
    except ImportError:
        return "not installed"
    return skorch.__version__


def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}{unit}" if unit == " s" else f"{value:.2f}{unit}"
    return str(value)


def table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """A Markdown table; ``columns`` are (key, header, unit) triples."""
    lines = ["| " + " | ".join(h for _, h, _ in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(k), unit) for k, _, unit in columns) + " |")
    return "\n".join(lines)
