"""Close what a later IAM snapshot no longer lists.

A snapshot says what *is* attached; the events of `iam_import` only add. When the store
already holds history, an item in force at the snapshot's time that the snapshot does not
list (a detached policy, a deleted inline policy, a removed boundary or group membership,
cleared tags) was removed by then: this emits the removing events, at the snapshot's time,
for every role, user and group of the accounts the snapshot covers (the
authorization-details output lists a whole account; a section missing from the file,
as with `--filter Role`, closes nothing of its kind). Trust policies and managed policy
versions are only ever replaced, never closed.
"""

from __future__ import annotations

from pipeline.events import PolicyChanged, PolicyChangeType, PolicyTargetType
from pipeline.permissions.iam_import import IamSnapshot, snapshot_event
from pipeline.permissions.in_force import HistoryAt

C = PolicyChangeType
_REMOVALS = {
    "managed": C.DETACH_MANAGED_POLICY,
    "inline": C.DELETE_INLINE_POLICY,
    "boundary": C.DELETE_PERMISSIONS_BOUNDARY,
    "group": C.REMOVE_USER_FROM_GROUP,
    "tags": C.OTHER,
}
_PRINCIPALS = {"ROLE", "USER", "GROUP"}


def _item_of(event: PolicyChanged) -> tuple[str, str, str] | None:
    """`(target, kind, item)` as the history keys it (see `history._INTERVALS`)."""
    c = event.change_type
    if c is C.ATTACH_MANAGED_POLICY:
        return event.target_arn, "managed", event.policy_arn or event.policy_name or ""
    if c is C.PUT_INLINE_POLICY:
        return event.target_arn, "inline", event.policy_name or ""
    if c is C.SET_PERMISSIONS_BOUNDARY:
        return event.target_arn, "boundary", ""
    if c is C.ADD_USER_TO_GROUP:
        return event.target_arn, "group", event.group_name or ""
    if c is C.OTHER and event.policy_name == "Tags":
        return event.target_arn, "tags", ""
    return None


def removals(snapshot: IamSnapshot, history_at: HistoryAt) -> list[PolicyChanged]:
    """The events that close items in force at the snapshot's time but absent from it."""
    listed = {key for e in snapshot.events if (key := _item_of(e)) is not None}
    accounts = {e.account_id for e in snapshot.events}
    out: list[PolicyChanged] = []
    for target, items in sorted(history_at.items.items()):
        kind = history_at.targets.get(target)
        parts = target.split(":")
        # Only what the file lists in full: `--filter Role` output says nothing of users.
        if kind is None or kind not in _PRINCIPALS or kind not in snapshot.covers:
            continue
        if len(parts) < 6 or parts[4] not in accounts:
            continue
        for item in items:
            change = _REMOVALS.get(item.kind)
            if change is None or (target, item.kind, item.item) in listed:
                continue
            if item.kind == "tags" and item.policy_document == "{}":
                continue  # already cleared by an earlier reconciliation
            out.append(
                snapshot_event(
                    snapshot,
                    PolicyTargetType(kind),
                    target,
                    change,
                    policy_arn=item.policy_arn if item.kind == "managed" else None,
                    policy_name=item.policy_name if item.kind in ("inline", "tags") else None,
                    policy_document="{}" if item.kind == "tags" else None,
                    group_name=item.group_name if item.kind == "group" else None,
                )
            )
    return out
