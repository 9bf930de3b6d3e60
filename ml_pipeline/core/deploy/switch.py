"""Switch what ``current`` serves to a registered version: the registry's champion after
a killed deployment (:func:`reconcile`), or the champion it replaced (:func:`rollback`).

Kept apart from :mod:`deployment`, which pulls in scikit-learn and the edge export:
every command runs :func:`reconcile` before it starts, and the ingest that follows
needs none of that in its process.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ml_pipeline.core import names, tracking
from ml_pipeline.core.deploy import deploy_folder
from ml_pipeline.core.monitor.reference import ReferenceProfile

if TYPE_CHECKING:
    from ml_pipeline.core.storage import StoragePath

CARD_JSON = "model_card.json"
CARD_MARKDOWN = "model_card.md"
REFERENCE_ARTIFACT = "reference_profile.json"


class RollbackError(RuntimeError):
    """There is no champion, or no earlier champion to return to."""


class ApprovalError(RuntimeError):
    """The version named is not the candidate awaiting approval."""


@dataclass
class RollbackOutcome:
    from_version: str
    to_version: str
    artifact_path: StoragePath
    # Set when the version rolled back to logged no training reference.
    reference_note: str | None = None


def _export_with_card(
    store: tracking.MlflowStore, version: str, deploy_dir: StoragePath
) -> StoragePath:
    """Export a registered version with the model card its training run logged."""
    run_id = store.version(version).run_id
    files = {}
    for name in (CARD_JSON, CARD_MARKDOWN):
        text = tracking.run_text(store, run_id, name)
        if text is not None:
            files[name] = text
    return deploy_folder.export_version(store, version, deploy_dir, files)


def _reference_text(
    store: tracking.MlflowStore, version: str, reference_path: Path | None
) -> str | None:
    """The version's logged training reference; read before anything is switched, so
    an unreadable one stops the switch."""
    if reference_path is None:
        return None
    return tracking.run_text(store, store.version(version).run_id, REFERENCE_ARTIFACT)


def _serve_export(
    exported: StoragePath, reference_path: Path | None, profile: str | None
) -> tuple[StoragePath, str | None]:
    """Point ``current`` at an exported version and put its training reference in place.

    A version that logged no reference leaves none at all, never the replaced model's:
    drift would otherwise be measured against data the served model did not learn from.
    Returns the link and, in that case, a sentence saying so.
    """
    artifact = deploy_folder.point_current(exported.parent, exported)
    if reference_path is None:
        return artifact, None
    if profile is None:
        # A file this project generates on every deployment, not a user's file.
        reference_path.unlink(missing_ok=True)
        version = exported.name.removeprefix("v")
        return artifact, (
            f"version {version} logged no training reference: input drift is not "
            "measured until a champion with one is deployed"
        )
    ReferenceProfile.from_json(profile).save(reference_path)
    return artifact, None


def served_version(deploy_dir: StoragePath) -> str | None:
    """The version ``current`` leads to, or None when there is no link."""
    name = deploy_folder.current_name(deploy_dir)
    return name.removeprefix("v") if name is not None else None


def reconcile(
    store: tracking.MlflowStore, deploy_dir: StoragePath, reference_path: Path | None = None
) -> str | None:
    """Finish a deployment that a killed process left half done.

    The registry's ``champion`` alias is the decision; ``current`` must lead to that
    version's export. When they differ (the process died after moving the alias and
    before switching the link), the link is switched now. Returns what was done, or
    None when they already agree.
    """
    store.activate()
    champion = store.champion()
    serving = served_version(deploy_dir)
    if champion is None or str(champion.version) == serving:
        return None
    version = str(champion.version)
    profile = _reference_text(store, version, reference_path)
    exported = _export_with_card(store, version, deploy_dir)
    _, note = _serve_export(exported, reference_path, profile)
    was = f"version {serving}" if serving else "nothing"
    done = (
        f"`current` led to {was} while the registry's champion is version {version}; "
        f"it now leads to version {version}"
    )
    return f"{done}; {note}" if note else done


def rollback(
    store: tracking.MlflowStore, deploy_dir: StoragePath, reference_path: Path | None = None
) -> RollbackOutcome:
    """Point ``champion`` back at the version it replaced, with its artifact and reference."""
    store.activate()
    current = store.champion()
    if current is None:
        raise RollbackError(f"model {store.registered_model!r} has no champion to roll back")
    previous = current.tags.get(names.PREVIOUS_CHAMPION_TAG)
    if not previous:
        raise RollbackError(
            f"champion version {current.version} of {store.registered_model!r} replaced no "
            "earlier champion: nothing to roll back to"
        )
    profile = _reference_text(store, previous, reference_path)
    exported = _export_with_card(store, previous, deploy_dir)
    store.point_alias(previous)
    store.client().set_model_version_tag(
        store.registered_model,
        str(current.version),
        names.ROLLED_BACK_TAG,
        dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    artifact, note = _serve_export(exported, reference_path, profile)
    return RollbackOutcome(str(current.version), previous, artifact, note)


def _awaited(store: tracking.MlflowStore, version: str) -> None:
    candidate = store.candidate()
    if candidate is None or str(candidate.version) != version:
        waiting = f"version {candidate.version} is" if candidate is not None else "none is"
        raise ApprovalError(f"version {version} is not awaiting approval ({waiting})")


def _decided(store: tracking.MlflowStore, version: str, tag: str, person: str) -> None:
    client = store.client()
    when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    client.set_model_version_tag(store.registered_model, version, tag, f"{person} at {when}")
    client.delete_model_version_tag(store.registered_model, version, names.AWAITING_APPROVAL_TAG)
    client.delete_registered_model_alias(store.registered_model, tracking.CANDIDATE_ALIAS)


def approve(
    store: tracking.MlflowStore,
    deploy_dir: StoragePath,
    version: str,
    person: str,
    reference_path: Path | None = None,
) -> RollbackOutcome:
    """Make the awaited candidate ``version`` the champion and serve it."""
    store.activate()
    _awaited(store, version)
    profile = _reference_text(store, version, reference_path)
    exported = _export_with_card(store, version, deploy_dir)
    replaced = store.promote(version)
    _decided(store, version, names.APPROVED_TAG, person)
    artifact, note = _serve_export(exported, reference_path, profile)
    # It serves now: nothing is left to shadow.
    deploy_folder.remove_link(deploy_dir, deploy_folder.SHADOW_LINK)
    return RollbackOutcome(replaced or "none", version, artifact, note)


def reject(
    store: tracking.MlflowStore, version: str, person: str, deploy_dir: StoragePath | None = None
) -> None:
    """Turn the awaited candidate ``version`` down; the champion serves on, unshadowed."""
    store.activate()
    _awaited(store, version)
    _decided(store, version, names.REJECTED_TAG, person)
    if deploy_dir is not None:
        deploy_folder.remove_link(deploy_dir, deploy_folder.SHADOW_LINK)
