"""What one ``ml-pipeline run`` did, as a typed object; the CLI prints it or its JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ml_pipeline.core.deploy.deployment import DeploymentOutcome
    from ml_pipeline.core.model.challenger import TrainingOutcome
    from ml_pipeline.core.model.gate import ValidationOutcome
    from ml_pipeline.core.model.promotion import Decision
    from ml_pipeline.core.model.refit import DeployCandidate

Scores = dict[str, float]


@dataclass(frozen=True)
class TrainingSummary:
    mlflow_run_id: str
    model_uri: str
    challenger: str
    candidates: list[dict[str, object]]
    holdout: str
    partitions: int
    search: str = ""
    # The default HGB against the searched challenger on the holdout: who won, and why.
    yardstick: str | None = None
    # What the training noticed about its data: undecided column kinds, rare classes.
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, training: TrainingOutcome) -> TrainingSummary:
        return cls(
            mlflow_run_id=training.mlflow_run_id,
            model_uri=training.model_uri,
            challenger=training.challenger,
            candidates=training.candidates,
            holdout=training.holdout.describe(),
            partitions=len(training.partitions),
            search=training.search,
            yardstick=training.yardstick,
            warnings=list(training.warnings),
        )


@dataclass(frozen=True)
class ValidationSummary:
    metric: str
    challenger: Scores
    baseline: Scores
    default_hgb: Scores | None
    holdout_rows: int
    compared_rows: int
    challenger_compared: Scores | None
    unmeasured: dict[str, str]
    refit: DeployCandidate | None
    champion_before: Scores | None
    champion_version_before: str | None
    smoke_test: str | None
    decision: Decision

    @classmethod
    def of(cls, validation: ValidationOutcome) -> ValidationSummary:
        return cls(
            metric=validation.metric,
            challenger=validation.challenger,
            baseline=validation.baseline,
            default_hgb=validation.default_hgb,
            holdout_rows=validation.holdout_rows,
            compared_rows=validation.compared_rows,
            challenger_compared=validation.challenger_compared,
            unmeasured=validation.unmeasured,
            refit=validation.deploy,
            champion_before=validation.champion,
            champion_version_before=validation.champion_version,
            smoke_test=validation.smoke.message if validation.smoke else None,
            decision=validation.decision,
        )


@dataclass(frozen=True)
class ChampionSummary:
    """The champion after the run: the new version when the gate promoted, else the kept one."""

    version: str | None
    promoted: bool
    metrics: Scores | None
    baseline: Scores
    # Under manual approval: the version this run registered as candidate.
    awaiting_approval: str | None = None

    @classmethod
    def after(
        cls, validation: ValidationOutcome, deployment: DeploymentOutcome | None
    ) -> ChampionSummary:
        awaiting = deployment.awaiting if deployment is not None else None
        promoted = validation.decision.promote and deployment is not None and not awaiting
        if promoted:
            version, metrics = deployment.version, validation.challenger
        else:
            version, metrics = validation.champion_version, validation.champion
        return cls(version, promoted, metrics, validation.baseline, awaiting)

    @classmethod
    def serving(cls, scores: tuple[str, Scores, Scores] | None) -> ChampionSummary | None:
        """The champion a run without training leaves in place (``champion_scores``)."""
        if scores is None:
            return None
        version, metrics, baseline = scores
        return cls(version, False, metrics, baseline)


# Intake and cleaning warnings printed before the rest are only counted (--json has all).
WARNINGS_SHOWN = 10


@dataclass
class RunSummary:
    ingested: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    # Columns left out of the warehouse per partition, because the contract lacks them.
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)
    # Per partition: lines dropped while reading, cells coerced by cleaning.
    warnings: dict[str, list[str]] = field(default_factory=dict)
    # Partitions left out of training, and why (they do not conform to the contract).
    excluded: dict[str, str] = field(default_factory=dict)
    # Why training did not run, when it did not need to; why it did, when the policy said.
    not_retrained: str | None = None
    retrained_because: str | None = None
    rows: dict[str, int] = field(default_factory=dict)
    training: TrainingSummary | None = None
    training_partitions: list[str] = field(default_factory=list)
    validation: ValidationSummary | None = None
    champion: ChampionSummary | None = None
    artifact_path: str | None = None
    # What became of model.onnx when deploy.onnx asks for it.
    edge: str | None = None
    error: str | None = None

    def record_training(
        self,
        training: TrainingOutcome,
        validation: ValidationOutcome,
        deployment: DeploymentOutcome | None,
    ) -> None:
        self.excluded = dict(training.excluded)
        self.rows.update(train=training.train_rows, holdout=training.holdout_rows)
        self.training_partitions = list(training.partitions)
        self.training = TrainingSummary.of(training)
        self.validation = ValidationSummary.of(validation)
        self.champion = ChampionSummary.after(validation, deployment)
        self.edge = deployment.edge if deployment is not None else None

    def as_json(self) -> dict[str, object]:
        return {
            "partitions": {
                "ingested": self.ingested,
                "unchanged": self.unchanged,
                "failed": [{"partition": k, "error": v} for k, v in self.failed.items()],
                "conflicts": self.conflicts,
                "forgotten": self.forgotten,
                "ignored_columns": self.ignored_columns,
                "warnings": self.warnings,
                "excluded_from_training": self.excluded,
            },
            "not_retrained": self.not_retrained,
            "retrained_because": self.retrained_because,
            "rows": self.rows,
            "training": asdict(self.training) if self.training else None,
            "validation": asdict(self.validation) if self.validation else None,
            "champion": asdict(self.champion) if self.champion else None,
            "artifact_path": self.artifact_path,
            "edge": self.edge,
            "error": self.error,
        }

    def lines(self) -> list[str]:
        """The summary as the CLI prints it."""
        out = self._partition_lines()
        out.append("rows: " + ", ".join(f"{k}={v}" for k, v in self.rows.items()))
        if self.retrained_because:
            out.append(f"retrained because: {self.retrained_because}")
        if self.training:
            out += _training_lines(self.training)
        if self.validation:
            out += _validation_lines(self.validation)
        if self.not_retrained:
            out.append(self.not_retrained)
        if self.champion:
            out += _champion_lines(self.champion)
        if self.artifact_path:
            out.append(f"artifact: {self.artifact_path}")
        if self.edge:
            out.append(f"edge: {self.edge}")
        if self.error:
            out.append(f"error: {self.error}")
        return out

    def _partition_lines(self) -> list[str]:
        out = [
            f"partitions: {len(self.ingested)} ingested, {len(self.unchanged)} unchanged, "
            f"{len(self.failed)} failed"
        ]
        out += [f"  failed {key}: {error}" for key, error in self.failed.items()]
        out += [f"  skipped, several files share a partition: {c}" for c in self.conflicts]
        if self.forgotten:
            out.append(f"  forgotten, left in the landing folder: {', '.join(self.forgotten)}")
        for key, columns in self.ignored_columns.items():
            out.append(f"  {key}: columns not in the contract, ignored: {', '.join(columns)}")
        told = [f"  {key}: {w}" for key, warnings in self.warnings.items() for w in warnings]
        out += told[:WARNINGS_SHOWN]
        if len(told) > WARNINGS_SHOWN:
            out.append(f"  ... and {len(told) - WARNINGS_SHOWN} more warning(s): see --json")
        out += [f"  left out of training, {key}: {why}" for key, why in self.excluded.items()]
        return out


def scores_text(metrics: Scores | None) -> str:
    if not metrics:
        return "-"
    return ", ".join(f"{k}={v:.4g}" for k, v in metrics.items())


def _training_lines(training: TrainingSummary) -> list[str]:
    out = [f"candidates (holdout: {training.holdout}):"]
    for row in training.candidates:
        if "error" in row:
            out.append(f"  {row['candidate']:<24} failed, left out: {row['error']}")
            continue
        params = ", ".join(f"{k}={v}" for k, v in row["params"].items())
        scores = {k: v for k, v in row.items() if k.startswith("cv_") and v is not None}
        shown = scores_text(scores) if scores else "not cross-validated"
        out.append(f"  {row['candidate']:<24} {shown}  [{params}]")
        for option, effect in (row.get("treatments") or {}).items():
            out.append(f"  {'':<24} {option}: {effect}")
    out.append(f"challenger: {training.challenger} ({training.search})")
    if training.yardstick:
        out.append(f"  {training.yardstick}")
    out += [f"  warning: {warning}" for warning in training.warnings]
    return out


def _validation_lines(validation: ValidationSummary) -> list[str]:
    out = [
        f"holdout  challenger: {scores_text(validation.challenger)}  "
        f"({validation.holdout_rows} rows)",
        f"holdout  baseline:   {scores_text(validation.baseline)}",
    ]
    if validation.default_hgb:
        out.append(f"holdout  default HGB: {scores_text(validation.default_hgb)}")
    out += [f"  {name} not measured: {why}" for name, why in validation.unmeasured.items()]
    if validation.champion_before is not None or validation.compared_rows:
        out.append(
            f"champion v{validation.champion_version_before} on {validation.compared_rows} "
            f"rows neither trained on: {scores_text(validation.champion_before)}; "
            f"challenger: {scores_text(validation.challenger_compared)}"
        )
    refit, decision = validation.refit, validation.decision
    if decision.promote and refit and refit.refit:
        out.append(
            f"deployed: refit on {refit.rows} rows of all the data in "
            f"{refit.seconds:.1f} s (in-sample {scores_text(refit.in_sample)})"
        )
    verdict = "promote" if decision.promote else "keep champion"
    out.append(f"decision: {verdict} ({decision.reason})")
    return out


def _champion_lines(champion: ChampionSummary) -> list[str]:
    out = [f"champion: version {champion.version}" if champion.version else "champion: none yet"]
    waiting = champion.awaiting_approval
    if waiting:
        out.append(f"awaiting approval: version {waiting} (ml-pipeline approve {waiting})")
    return out
