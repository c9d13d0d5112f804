"""Label typos: a label no policy reads, a letter or two away from one a policy does.

Policies read labels with defaults (`object.get(region.labels, "jurisdiction", "none")`), so a
region labelled `jurisdicton: eu` is not an error to Rego: it is a region without the label,
and a policy that allows by label would be silently wrong. Before the policies are asked, every
label in the input is compared with the label names the policies mention; one that is close to
a mentioned name without being one is refused with both names.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from .facts import PolicyInput
from .rego import PolicyFile

# labels.jurisdiction, labels["data-classification"], object.get(x.labels, "jurisdiction", d)
_MENTIONS = (
    re.compile(r"labels\.([A-Za-z_][\w]*)"),
    re.compile(r"labels\[\s*\"([^\"]+)\"\s*\]"),
    re.compile(r"object\.get\(\s*[\w.\[\]]*labels\s*,\s*\"([^\"]+)\""),
)


@dataclass(frozen=True)
class LabelTypo:
    where: str  # region eu-west, host 127.0.0.2, the release, the environment
    label: str
    meant: str
    policy: str  # the file that mentions `meant`

    def __str__(self) -> str:
        return (
            f"label {self.label!r} of {self.where} is read by no policy; {self.policy} reads "
            f"{self.meant!r}: fix the label's name (a policy would not see it)"
        )


def mentioned(files: list[PolicyFile]) -> dict[str, str]:
    """Label name -> the first policy file that mentions it."""
    found: dict[str, str] = {}
    for policy in files:
        for pattern in _MENTIONS:
            for name in pattern.findall(policy.text):
                found.setdefault(name, policy.display)
    return found


def typos(question: PolicyInput, files: list[PolicyFile]) -> list[LabelTypo]:
    known = mentioned(files)
    if not known:
        return []
    labelled = [
        ("the environment", question.environment_labels),
        (f"the release of {question.release.app}", question.release.labels),
        *((f"region {r.name}", r.labels) for r in question.regions),
        *((f"host {h.address}", h.labels) for r in question.regions for h in r.hosts),
    ]
    found = []
    for where, labels in labelled:
        for label in labels:
            if label in known:
                continue
            close = difflib.get_close_matches(label, known, n=1, cutoff=0.8)
            if close:
                found.append(LabelTypo(where, label, close[0], known[close[0]]))
    return found
