"""One `/metrics` for every worker of `serve --workers N`: each worker's metrics, merged.

Each worker keeps its own metrics, as a single process does. With `METRICS_DIR` set (`serve`
sets it to a fresh private folder when it starts more than one worker), every worker also
writes them, in the Prometheus text format, to `<folder>/<pid>.prom`: every flush period and
before it answers a scrape. Whichever worker answers a scrape reads every file and merges them.
The request path pays nothing for it.
"""

from __future__ import annotations

import logging
import math
import os
from typing import TYPE_CHECKING, Final

from prometheus_client import generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from pathlib import Path

    from prometheus_client import CollectorRegistry

__all__ = ("SharedMetrics",)

logger = logging.getLogger(__name__)

SUFFIX: Final = ".prom"
GAUGE_MERGES: Final[dict[str, Callable[[Iterable[float]], float]]] = {
    "jwks_ready": min,  # ready only where every worker has its keys
    "jwks_key_set_age_seconds": lambda ages: max(
        (age for age in ages if not math.isnan(age)), default=math.nan
    ),
    "process_start_time_seconds": min,
    "process_max_fds": min,
}
"""How the living workers' values of a gauge combine; any other gauge is summed (in progress,
memory, open file descriptors: the whole service's)."""


class SharedMetrics(Collector):
    """The merged metrics of every worker that writes to `folder`, this one included.

    Counters and histograms are summed over every worker that ever wrote (a restarted worker's
    counts stay in the totals, which therefore never go down); gauges over the living workers
    only, by `GAUGE_MERGES`.
    """

    def __init__(self, folder: Path, own: CollectorRegistry) -> None:
        self._folder = folder
        self._own = own
        self._file = folder / f"{os.getpid()}{SUFFIX}"

    def publish(self) -> None:
        """Write this worker's metrics for the others (atomically: a reader never sees half)."""
        partial = self._file.with_suffix(".tmp")
        try:
            partial.write_bytes(generate_latest(self._own))
            partial.replace(self._file)
        except OSError as exc:
            logger.warning("metrics not shared with the other workers: %s", exc)

    def collect(self) -> Iterator[Metric]:
        """Every worker's families, merged, after this worker published its latest."""
        self.publish()
        merged: dict[str, Metric] = {}
        values: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[float]] = {}
        for path in sorted(self._folder.glob(f"*{SUFFIX}")):
            living = path.stem.isdigit() and _is_running(int(path.stem))
            for family in _read(path):
                if family.type == "gauge" and not living:
                    continue
                merged.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                for sample in family.samples:
                    key = (family.name, sample.name, tuple(sorted(sample.labels.items())))
                    values.setdefault(key, []).append(sample.value)
        for (name, sample_name, labels), found in values.items():
            family = merged[name]
            family.add_sample(sample_name, dict(labels), _combine(family, sample_name)(found))
        return iter(merged.values())


def _combine(family: Metric, sample_name: str) -> Callable[[Iterable[float]], float]:
    if sample_name.endswith("_created"):
        return min
    return GAUGE_MERGES.get(family.name, sum) if family.type == "gauge" else sum


def _read(path: Path) -> list[Metric]:
    """The families in one worker's file; none if it vanished or is not the text format."""
    try:
        return list(text_string_to_metric_families(path.read_text()))
    except (OSError, ValueError) as exc:
        logger.warning("metrics of %s skipped: %s", path.name, exc)
        return []


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # running, as another user
        return True
    return True
