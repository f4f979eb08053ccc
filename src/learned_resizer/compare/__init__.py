"""Comparison of resizers trained on the same model and data: statistics, table, report."""

from learned_resizer.compare.records import RunRecord
from learned_resizer.compare.report import Report, write_report
from learned_resizer.compare.statistics import PairedDifference, paired_difference, summarize
from learned_resizer.compare.table import ComparisonTable, MetricSpec, build_table, metric_spec
from learned_resizer.panels import Panel

__all__ = [
    "ComparisonTable",
    "MetricSpec",
    "PairedDifference",
    "Panel",
    "Report",
    "RunRecord",
    "build_table",
    "metric_spec",
    "paired_difference",
    "summarize",
    "write_report",
]
