"""Label selector semantics shared by node affinity and NetworkPolicy selectors."""
from __future__ import annotations

from typing import Mapping


def expression_matches(expression: dict, labels: Mapping[str, str]) -> bool:
    """One requirement: In, NotIn (also true when the label is absent), Exists, DoesNotExist,
    and for nodes Gt/Lt (integer label values)."""
    key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    if operator in ("Gt", "Lt") and key in labels and len(values) == 1:
        try:
            have, bound = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > bound if operator == "Gt" else have < bound
    return False


def selector_matches(selector: dict | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector (matchLabels and matchExpressions, ANDed); an empty one matches everything."""
    selector = selector or {}
    return (all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())
            and all(expression_matches(e, labels) for e in selector.get("matchExpressions") or []))
