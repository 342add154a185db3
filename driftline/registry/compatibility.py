"""Whether a version's data contract can replace production's: the records on the stream must still fit it.

Two contracts are the same contract when a record that fits one fits the other and means the same: the id and
event-time fields (and the event time's format), the label (name, task, classes in model output order), and the
features (the same names, each of the same kind, each categorical one with the same declared categories, or
none declared in both). Feature order, the contract's name, nullability, numeric bounds and size limits are
validation policy that may change within one contract; a retrain keeps its champion's contract anyway.
"""

from __future__ import annotations

from driftline.contract import Contract

__all__ = ["contract_difference"]


def contract_difference(current: Contract, new: Contract) -> str | None:
    """The first difference that makes ``new`` another contract than ``current``, in words; None if none."""
    for field in ("id_field", "event_time_field", "event_time_format"):
        old_value, new_value = getattr(current, field), getattr(new, field)
        if old_value != new_value:
            return f"{field} is {new_value!r}, production's is {old_value!r}"
    old_label, new_label = current.label, new.label
    if old_label.name != new_label.name:
        return f"the label field is {new_label.name!r}, production's is {old_label.name!r}"
    if old_label.task != new_label.task:
        return f"the task is {new_label.task.value}, production's is {old_label.task.value}"
    if list(old_label.classes) != list(new_label.classes):
        return f"the label classes are {list(new_label.classes)}, production's are {list(old_label.classes)}"
    old_features = {f.name: f for f in current.features}
    new_features = {f.name: f for f in new.features}
    missing = [name for name in current.feature_names if name not in new_features]
    if missing:
        return f"feature {missing[0]!r} of production's contract is missing"
    added = [name for name in new.feature_names if name not in old_features]
    if added:
        return f"feature {added[0]!r} is not in production's contract"
    for name in current.feature_names:
        old, feature = old_features[name], new_features[name]
        if old.kind != feature.kind:
            return f"feature {name!r} is {feature.kind.value}, production's is {old.kind.value}"
        old_categories = None if old.categories is None else sorted(old.categories)
        new_categories = None if feature.categories is None else sorted(feature.categories)
        if old_categories != new_categories:
            return f"feature {name!r} declares categories {new_categories}, production's {old_categories}"
    return None
