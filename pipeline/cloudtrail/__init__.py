"""CloudTrail in: real AWS logs become the event contract's events.

reader.py   streams records out of files, archives, directory trees and stdin
times.py    the time formats CloudTrail writes
mapping.py  one record -> events (STS issuers, console lifecycle, calls with ASIA keys)
policies.py IAM policy changes and "revoke active sessions"
summary.py  what an import read, emitted and skipped, and why
importer.py the whole import: reader -> mapping -> Producer
"""

from pipeline.cloudtrail.importer import import_cloudtrail
from pipeline.cloudtrail.mapping import RecordMapper, Unmapped
from pipeline.cloudtrail.summary import ImportSummary

__all__ = ["ImportSummary", "RecordMapper", "Unmapped", "import_cloudtrail"]
