"""One result row of the table, and number formatting."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


def machine(threads: int | None = None) -> str:
    """This run's CPU: model name, torch's kernel capability (AVX512 / AVX2 / DEFAULT), cores, threads
    (torch's in this process, or `threads` for a benchmark whose processes set their own)."""
    import os

    import torch

    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    return (f"{model}, {torch.backends.cpu.get_cpu_capability()} kernels, {os.cpu_count()} cores, "
            f"{threads or torch.get_num_threads()} thread(s)")


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def MB(nbytes: float) -> str:
    return f"{nbytes / 2**20:.1f} MB"


@dataclass
class Row:
    """A benchmark line. ``ratio`` is always "how many times better attnlib is":
    baseline time / attnlib time, baseline memory / attnlib memory, or attnlib
    throughput / baseline throughput. A speed or memory floor is ``floor_min``
    (ratio ≥ floor_min); other floors set ``passed`` and ``floor_text`` directly.
    """

    id: str
    benchmark: str
    attnlib: str
    baseline: str
    ratio: float | None = None
    floor_min: float | None = None
    speed: bool = False           # a speed/memory floor: not judged at --quick sizes
    floor_text: str | None = None
    passed: bool | None = None
    ratio_text: str | None = None
    values: dict = field(default_factory=dict)
    note: str = ""
    cuda: str = "not measured (no GPU)"
    machine: str = ""             # CPU model, torch's CPU capability and threads of the run that measured it

    def judge(self, quick: bool) -> None:
        if self.floor_min is not None and self.floor_text is None:
            self.floor_text = f"≥ {self.floor_min:g}x"
        if quick and self.speed:
            if self.floor_text:
                self.floor_text += " (not judged at --quick sizes)"
            self.passed = None
        elif self.passed is None and self.floor_min is not None and self.ratio is not None:
            self.passed = self.ratio >= self.floor_min

    def ratio_str(self) -> str:
        if self.ratio_text:
            return self.ratio_text
        return "—" if self.ratio is None else f"{self.ratio:.2f}x"

    def verdict(self) -> str:
        return {True: "pass", False: "**FAIL**", None: "—"}[self.passed]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ratio_display"], d["verdict"] = self.ratio_str(), self.verdict()
        return d
