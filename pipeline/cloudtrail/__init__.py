"""CloudTrail in: real AWS logs become the event contract's events.

reader.py   streams records out of files, archives, directory trees and stdin
streams.py  the bytes of one input as they arrive, gunzipped, with damage kept
splitter.py one record's text at a time out of a stream, in linear time, with a size cap
fastjson.py JSON text -> values: orjson, the json module for whatever orjson refuses
damage.py   what damage cost: the records and bytes lost, said without quoting the input
times.py    the time formats CloudTrail writes
mapping.py  one record -> events (STS issuers, console lifecycle, calls with any key)
calls.py    calls -> actions, and the sessions of temporary keys (console keys joined)
console.py  the console sign-in lifecycle
policies.py IAM policy changes and "revoke active sessions"
contract.py drafts -> Avro records, checked against the event models' rules without models
summary.py  what an import read, emitted and skipped, and why
importer.py the whole import: reader -> mapping -> encoded events -> Producer, files in
            worker processes with `jobs` > 1 (the same log either way)
"""

from pipeline.cloudtrail.importer import import_cloudtrail
from pipeline.cloudtrail.mapping import RecordMapper, Unmapped
from pipeline.cloudtrail.summary import ImportSummary

__all__ = ["ImportSummary", "RecordMapper", "Unmapped", "import_cloudtrail"]
