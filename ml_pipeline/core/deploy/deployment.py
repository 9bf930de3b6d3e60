"""Deploy the validated challenger.

Order matters for safety: the new version's artifact is exported completely
first, then the registry alias moves, then the ``current`` link switches in one
rename. A run killed at any point leaves a complete version serving; one killed
between the alias and the link is finished by
:func:`ml_pipeline.core.deploy.switch.reconcile` at the next command.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ml_pipeline.core import names, tracking
from ml_pipeline.core.crashpoints import crash_point
from ml_pipeline.core.deploy import deploy_folder
from ml_pipeline.core.deploy.edge import ONNX_FILE, EdgeOutcome, log_edge_model
from ml_pipeline.core.deploy.model_card import build_card, card_json, card_markdown
from ml_pipeline.core.deploy.switch import CARD_JSON, CARD_MARKDOWN
from ml_pipeline.core.model import refit
from ml_pipeline.core.model.challenger import TrainingOutcome
from ml_pipeline.core.model.gate import ValidationOutcome
from ml_pipeline.core.model.refit import DeployCandidate
from ml_pipeline.core.names import (
    CODE_VERSION_TAG,
    DATA_FINGERPRINT_TAG,
    MLFLOW_RUN_ID_TAG,
    MLFLOW_TRIGGER_TAG,
    PARTITIONS_TAG,
)

if TYPE_CHECKING:
    from ml_pipeline.core.storage import StoragePath


@dataclass
class DeploymentOutcome:
    promoted: bool
    version: str | None
    replaced_version: str | None
    artifact_path: StoragePath | None
    reason: str
    card: dict[str, object] = field(default_factory=dict)
    # What became of model.onnx (deploy.onnx), in one line; None when not asked for.
    edge: str | None = None
    # Under manual approval: the version registered as `candidate`, waiting for a person.
    awaiting: str | None = None


def _card(
    store: tracking.MlflowStore,
    version: str,
    training: TrainingOutcome,
    validation: ValidationOutcome,
    tags: dict[str, str],
    edge: EdgeOutcome | None = None,
) -> dict[str, object]:
    return build_card(
        model_name=store.registered_model,
        version=version,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        code_version=tags.get(CODE_VERSION_TAG, "unknown"),
        trigger=tags.get(MLFLOW_TRIGGER_TAG),
        mlflow_run_id=training.mlflow_run_id,
        challenger=training.challenger,
        candidates=training.candidates,
        search=training.search,
        yardstick=training.yardstick,
        metric=training.metric,
        holdout=training.holdout.describe(),
        holdout_metrics=validation.challenger,
        baseline_metrics=validation.baseline,
        previous_version=validation.champion_version,
        previous_metrics=validation.champion,
        partitions=training.partition_rows,
        train_rows=training.train_rows,
        holdout_rows=training.holdout_rows,
        data_fingerprint=training.data_fingerprint,
        decision=validation.decision.reason,
        reference_metrics=validation.default_hgb,
        compared_rows=validation.compared_rows,
        deployed=_deployed(validation.deploy),
        edge=edge.card() if edge is not None else None,
    )


def _deployed(candidate: DeployCandidate | None) -> dict[str, object]:
    if candidate is None or not candidate.refit:
        return {"refit": False}
    return {
        "refit": True,
        "rows": candidate.rows,
        "in_sample": candidate.in_sample,
        "fingerprint": candidate.data_fingerprint,
        "training_cutoff": candidate.training_cutoff,
        "fit_seconds": round(candidate.seconds, 2),
    }


def _version_tags(training: TrainingOutcome, candidate: DeployCandidate | None) -> dict[str, str]:
    tags = {
        MLFLOW_RUN_ID_TAG: training.mlflow_run_id,
        PARTITIONS_TAG: tracking.tag_value(",".join(training.partitions)),
    }
    if candidate is not None and candidate.refit:
        tags[names.REFIT_TAG] = "true"
        tags[DATA_FINGERPRINT_TAG] = candidate.data_fingerprint
        if candidate.training_cutoff:
            tags[names.TRAINING_CUTOFF_TAG] = candidate.training_cutoff
    else:
        tags[DATA_FINGERPRINT_TAG] = training.data_fingerprint
        if training.holdout.cutoff:
            tags[names.HOLDOUT_CUTOFF_TAG] = training.holdout.cutoff
    if candidate is not None:
        tags[names.MODEL_FINGERPRINT_TAG] = candidate.model_fingerprint
    return tags


def deploy(
    training: TrainingOutcome,
    validation: ValidationOutcome,
    store: tracking.MlflowStore,
    deploy_dir: StoragePath,
    tags: dict[str, str],
    reference_path: Path | None = None,
    edge: EdgeOutcome | None = None,
    approval: str = "automatic",
) -> DeploymentOutcome:
    """Register, export and promote the challenger if it won; otherwise change nothing.

    With ``approval`` "manual" the winner is registered and exported but only named
    `candidate`: the champion serves on until ``ml-pipeline approve``. ``edge``, when
    given and published, adds ``model.onnx`` to the export and logs it with
    ``mlflow.onnx`` in the training run, beside the scikit-learn model."""
    import mlflow

    store.activate()
    if not validation.decision.promote:
        current = store.champion()
        version = str(current.version) if current else None
        link = deploy_dir / deploy_folder.CURRENT_LINK
        return DeploymentOutcome(
            False, version, None, link if link.exists() else None, validation.decision.reason
        )
    candidate = validation.deploy
    if candidate is not None and candidate.refit:
        refit.log_training_partitions(
            store, training.mlflow_run_id, training.partitions, candidate.digests
        )
    model_uri = candidate.model_uri if candidate is not None else training.model_uri
    version = store.register(model_uri, {**tags, **_version_tags(training, candidate)})
    card = _card(store, version, training, validation, tags, edge)
    texts = {CARD_JSON: card_json(card), CARD_MARKDOWN: card_markdown(card)}
    files: dict[str, str | bytes] = dict(texts)
    if edge is not None and edge.published and edge.model is not None:
        files[ONNX_FILE] = edge.model
    exported = deploy_folder.export_version(store, version, deploy_dir, files)
    with mlflow.start_run(run_id=training.mlflow_run_id):
        for name, text in texts.items():
            mlflow.log_text(text, name)
        if ONNX_FILE in files:
            log_edge_model(edge.model)
    crash_point("registered")
    if approval == "manual":
        # Awaiting approval, the candidate answers every request in the shadow.
        deploy_folder.point_current(deploy_dir, exported, deploy_folder.SHADOW_LINK)
        return _await_approval(store, version, validation, card)
    replaced = store.promote(version)
    crash_point("promoted")
    artifact = deploy_folder.point_current(deploy_dir, exported)
    deploy_folder.remove_link(deploy_dir, deploy_folder.SHADOW_LINK)
    deploy_folder.prune_challengers(deploy_dir, keep=None)
    if reference_path is not None and training.drift_profile is not None:
        training.drift_profile.save(reference_path)
    return DeploymentOutcome(
        True,
        version,
        replaced,
        artifact,
        validation.decision.reason,
        card,
        edge.note if edge is not None else None,
    )


def shadow_challenger(
    training: TrainingOutcome, store: tracking.MlflowStore, deploy_dir: StoragePath
) -> StoragePath | None:
    """Export a challenger that lost for the scoring service to shadow (``serving.shadow``);
    None, changing nothing, while a candidate awaits approval: that one is shadowed."""
    if not training.model_uri or store.candidate() is not None:
        return None
    exported = deploy_folder.export_challenger(
        store, training.model_uri, training.mlflow_run_id, deploy_dir
    )
    deploy_folder.point_current(deploy_dir, exported, deploy_folder.SHADOW_LINK)
    deploy_folder.prune_challengers(deploy_dir, keep=exported.name)
    return exported


def _await_approval(
    store: tracking.MlflowStore,
    version: str,
    validation: ValidationOutcome,
    card: dict[str, object],
) -> DeploymentOutcome:
    """Name ``version`` the candidate; a candidate it supersedes is no longer awaited."""
    client = store.client()
    earlier = store.candidate()
    if earlier is not None and str(earlier.version) != version:
        client.delete_model_version_tag(
            store.registered_model, str(earlier.version), names.AWAITING_APPROVAL_TAG
        )
    for tag in (names.APPROVAL_TAG, names.AWAITING_APPROVAL_TAG):
        value = "manual" if tag == names.APPROVAL_TAG else "true"
        client.set_model_version_tag(store.registered_model, version, tag, value)
    client.set_registered_model_alias(store.registered_model, tracking.CANDIDATE_ALIAS, version)
    champion = store.champion()
    reason = (
        f"{validation.decision.reason}; version {version} awaits approval "
        f"(ml-pipeline approve {version}, or reject {version})"
    )
    return DeploymentOutcome(
        False,
        str(champion.version) if champion else None,
        None,
        None,
        reason,
        card,
        awaiting=version,
    )
