"""What a person browsing the MLflow UI reads about a sweep: the parent run's description."""

from __future__ import annotations

import yaml

from cifarsweep.sweep.spec import SweepSpec

# MLflow caps a tag value at 8000 characters; the whole spec is also the parent's spec.json artifact.
_MAX_SPEC_TEXT = 6000


def parent_description(spec: SweepSpec) -> str:
    """Markdown: the sweep's description, its search and objective, and the spec (keys that differ from defaults)."""
    text = yaml.safe_dump(spec.model_dump(mode="json", exclude_defaults=True), sort_keys=False)
    if len(text) > _MAX_SPEC_TEXT:
        text = text[:_MAX_SPEC_TEXT] + "\n# ... (cut; the whole spec is the run's spec.json)\n"
    objective = f"{spec.objective.resolved_direction} {spec.objective.metric}"
    return (
        f"{spec.description or f'cifarsweep sweep {spec.name}'}\n\n"
        f"{spec.sweep.kind} sweep, objective: {objective}, pruner: {spec.pruner.kind}. "
        "Its trials are the nested runs under this one.\n\n"
        f"```yaml\n{text}```\n"
    )
