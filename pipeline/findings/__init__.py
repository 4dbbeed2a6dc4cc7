"""Findings: suspicious moments, derived from the stored facts, each with its evidence.

model        Finding, FindingFilter, the rule ids
thresholds   every threshold with its default, in one place
rules        each rule as SQL over the store's tables
machine      machine-iam-admin, through the policy evaluator
projection   the `findings` table, maintained incrementally by the store writer
reading      findings read back, filtered, newest first
ocsf         a finding as an OCSF Detection Finding (class 2004)
"""

from pipeline.findings.model import RULES, SEVERITIES, Finding, FindingFilter
from pipeline.findings.thresholds import DEFAULT_THRESHOLDS, Thresholds

__all__ = ["DEFAULT_THRESHOLDS", "RULES", "SEVERITIES", "Finding", "FindingFilter", "Thresholds"]
