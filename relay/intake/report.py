"""What an import did: created, updated, unchanged and rejected counts per kind, and why each rejection."""

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from relay.intake.records import KINDS, Rejection

OUTCOMES = ("created", "updated", "unchanged", "rejected")


@dataclass
class ImportReport:
    counts: dict[str, Counter[str]] = field(default_factory=lambda: {kind: Counter() for kind in KINDS})
    rejections: list[Rejection] = field(default_factory=list)
    referrals_replanned: int = 0

    def count(self, kind: str, outcome: str) -> None:
        self.counts.setdefault(kind, Counter())[outcome] += 1

    def reject(self, rejection: Rejection) -> None:
        self.rejections.append(rejection)
        self.count(rejection.kind, "rejected")

    def total(self, outcome: str) -> int:
        return sum(counter[outcome] for counter in self.counts.values())

    @property
    def changed(self) -> bool:
        return bool(self.total("created") or self.total("updated"))

    def as_dict(self) -> dict[str, Any]:
        """The report as the API and the CLI give it: only the kinds the import had."""
        return {
            "counts": {
                kind: {outcome: counter[outcome] for outcome in OUTCOMES}
                for kind, counter in self.counts.items()
                if counter
            },
            "rejected": [{"kind": item.kind, "record": item.record, "reason": item.reason} for item in self.rejections],
            "referrals_replanned": self.referrals_replanned,
        }

    def summary(self) -> str:
        """One line per kind, for the command line."""
        lines = []
        for kind, counter in self.counts.items():
            if counter:
                lines.append(f"{kind:15} " + ", ".join(f"{counter[outcome]} {outcome}" for outcome in OUTCOMES))
        lines.extend(f"  rejected {item.kind} {item.record}: {item.reason}" for item in self.rejections)
        return "\n".join(lines) if lines else "nothing to import"
