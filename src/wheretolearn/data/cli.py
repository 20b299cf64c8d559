"""``python -m wheretolearn data list|prepare``: what datasets exist, where from, are they here."""

from __future__ import annotations

import argparse
import logging

from wheretolearn.data import registry

log = logging.getLogger(__name__)


def _raw_status(spec: registry.DatasetSpec) -> str:
    from wheretolearn.data.download import local_candidates
    from wheretolearn.data.verify import checksum_ok

    here = 0
    for source in spec.sources:
        found = [p for p in local_candidates(source) if p.is_file()]
        here += any(checksum_ok(p, source) for p in found)
    return f"raw files found locally and verified: {here}/{len(spec.sources)}"


def _origin(spec: registry.DatasetSpec) -> str:
    source = spec.sources[0]
    if source.urls:
        return source.urls[0]
    return f"gdrive:{source.gdrive_id}" if source.gdrive_id else "mirror only"


def run_list(args: argparse.Namespace) -> int:
    """Print one block per dataset."""
    from wheretolearn.data.preparation import problems, resolve_root

    root = resolve_root(args.root)
    print(f"data root: {root}")
    for name in registry.names():
        spec = registry.get(name)
        issues = problems(name, root)
        state = "prepared, verified" if not issues else "not prepared or modified"
        splits = "/".join(f"{k}:{v}" for k, v in spec.splits.items())
        print(f"{name:20s} {state}; {_raw_status(spec)}; classes {splits}")
        print(f"{'':20s} from {_origin(spec)}")
        print(f"{'':20s} {spec.description}")
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    """Prepare each named dataset; stops at the first DatasetError (printed by the CLI)."""
    from wheretolearn.data.preparation import prepare

    for name in args.names:
        folder = prepare(name, args.root, trust_unverified=args.trust_unverified, force=args.force)
        print(f"{name}: prepared in {folder}")
    return 0
