"""Did it learn? A gate after every training, on rows the training never saw.

A loss that falls on training rows says little: the study's first reference run trained
DPO and IPO for a seventh of an epoch, logged falling losses, and produced rewrites
byte-identical to the untrained base on 113 of 125 items. So every training (02-04) ends
with a comparison of the trained optimizer against its own base on held-out rows:

* **held-out loss** (nats per token) of the target side: the completion for SFT, the chosen
  prompt for DPO/IPO/IPL; the trained model must lower it;
* **preference accuracy and margin** (DPO, IPO, IPL): the share of held-out pairs whose
  chosen side has the higher summed log-probability, and the mean difference, on the
  non-trivial optimizer pairs only (a rejected side that is the unchanged naive prompt is
  trivially worse; docs/data.md, "Rejected prompts"). The margin gain is the DPO reward
  margin divided by beta, measured against the base instead of the moving reference;
* **similarity of held-out rewrites** to the reference (chosen) prompts: mean MiniLM cosine
  (``fipo_utils.models.embeddings``) of greedy test-time rewrites, trained against base;
* **share of benchmark rewrites that differ from the base's**, known only after notebook 05:
  :func:`add_differ_share` writes it into 05's own folder (``optimized/<name>/gate_differ.json``)
  and :func:`read_gate` joins it to the training's checks.

Thresholds are the profile's ``gate`` section (:class:`fipo_utils.runs.settings.GateSettings`).
The training's result is ``checkpoints/<name>/gate.json``; :func:`gate_label` turns the
joined checks into the words tables and figures print beside the optimizer ("not trained
(gate: ...)"). Notebook 05 never rewrites ``gate.json``: every step that ran after the
training holds it among its recorded inputs (:mod:`fipo_utils.runs.history`), and a changed
file would make all of them stale on the next ``--resume``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fipo_utils.data.diversify import OPTIMIZER_CASES
from fipo_utils.runs.io import read_json_or_none, write_json_atomic
from fipo_utils.runs.safe_write import write_text_preserving
from fipo_utils.runs.settings import GateSettings
from fipo_utils.training.preview import heldout_rewrites

if TYPE_CHECKING:
    from fipo_utils.training.strategies import TrainSettings

GATE_FILE = "gate.json"
# notebook 05's check, in optimized/<name>/ beside the rewrites it counts
DIFFER_FILE = "gate_differ.json"


@dataclass(frozen=True)
class GateCheck:
    """One comparison of trained against base; ``gain`` is oriented so that larger is better."""

    name: str
    base: float | None
    trained: float | None
    gain: float | None
    threshold: float
    n: int

    @property
    def measured(self) -> bool:
        return self.gain is not None

    @property
    def passed(self) -> bool:
        return self.gain is not None and self.gain >= self.threshold

    def describe(self) -> str:
        if self.gain is None:
            return f"{self.name} not measured"
        return f"{self.name} gain {self.gain:+.3g} < {self.threshold:g} (n={self.n})"


@dataclass
class GateResult:
    """Every check of one checkpoint; it passes when all measured checks pass."""

    name: str
    base_model: str
    checks: list[GateCheck] = field(default_factory=list)
    # the trained weights the checks measured (``model_identity``): a retrained or extended
    # checkpoint (another IPL round) is gated again
    weights: str = ""

    @property
    def passed(self) -> bool:
        measured = [c for c in self.checks if c.measured]
        return bool(measured) and all(c.passed for c in measured)

    def label(self) -> str:
        """The words tables and figures print beside the optimizer."""
        if not any(c.measured for c in self.checks):
            return "not gated (no held-out rows)"
        if self.passed:
            return "trained (gate passed)"
        failed = [c.describe() for c in self.checks if c.measured and not c.passed]
        return f"not trained (gate: {'; '.join(failed)})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "base_model": self.base_model,
            "weights": self.weights,
            "passed": self.passed,
            "label": self.label(),
            "checks": [{**asdict(c), "passed": c.passed} for c in self.checks],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "gate") -> GateResult:
        try:
            checks = [
                GateCheck(**{k: v for k, v in c.items() if k != "passed"}) for c in data["checks"]
            ]
            return cls(
                str(data["name"]), str(data["base_model"]), checks, str(data.get("weights", ""))
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"{where}: not a gate record ({error})") from None


def _check(name: str, base: float | None, trained: float | None, threshold: float, n: int):
    """A check whose gain is trained minus base (accuracy, margin, similarity)."""
    gain = None if base is None or trained is None else trained - base
    return GateCheck(name, base, trained, gain, threshold, n)


def target_logprobs(
    model_name: str, pairs: Sequence[tuple[str, str]], dtype: str = "float32"
) -> tuple[list[float], list[int]]:
    """Summed log-probability and token count of each ``(prompt, target)``."""
    from fipo_utils.models.loglikelihood import ContinuationScorer, encode_pair
    from fipo_utils.models.pool import get_model

    loaded = get_model(model_name, dtype=dtype)
    scorer = ContinuationScorer(loaded.model, loaded.tokenizer)
    counts = [len(encode_pair(loaded.tokenizer, p, t)[1]) for p, t in pairs]
    return scorer.score(pairs), counts


def heldout_scores(
    model_name: str, examples: Sequence[Mapping[str, str]], dtype: str = "float32"
) -> dict[str, Any]:
    """Loss per token of the target side and, for preference rows, the log-prob margins."""
    target = "completion" if "completion" in examples[0] else "chosen"
    logps, counts = target_logprobs(model_name, [(e["prompt"], e[target]) for e in examples], dtype)
    scores: dict[str, Any] = {"loss": -sum(logps) / max(1, sum(counts)), "n": len(examples)}
    pairs = [(i, e) for i, e in enumerate(examples) if e.get("non_trivial")]
    if target == "chosen" and pairs:
        rejected, _ = target_logprobs(
            model_name, [(e["prompt"], e["rejected"]) for _, e in pairs], dtype
        )
        margins = [logps[i] - r for (i, _), r in zip(pairs, rejected, strict=True)]
        scores.update(
            accuracy=sum(m > 0 for m in margins) / len(margins),
            margin=sum(margins) / len(margins),
            n_pairs=len(margins),
        )
    return scores


def similarity_to_references(rewrites: Sequence[str], references: Sequence[str]) -> float:
    """Mean cosine of MiniLM embeddings of each rewrite and its reference."""
    from fipo_utils.models.embeddings import embed_texts

    vectors = embed_texts([*rewrites, *references])
    n = len(rewrites)
    return float((vectors[:n] * vectors[n:]).sum(axis=1).mean())


# the trainer's row preparation (``fipo_utils.training.train.prepare_examples``), passed in so
# the gate does not import the module that calls it
Prepare = Callable[[Any, list[dict], Any], list[dict]]


def gate_examples(
    settings: TrainSettings, rows: Sequence[Mapping[str, Any]], tokenizer, prepare: Prepare
) -> list[dict[str, Any]]:
    """Held-out rows as the trainer would see them (``prepare``), each preference row marked
    ``non_trivial`` when it is an optimizer row whose rejected side is not the naive prompt."""
    examples = prepare(settings, [dict(r) for r in rows], tokenizer)
    for example, row in zip(examples, rows, strict=True):
        optimizer_row = row.get("case_type", 0) in OPTIMIZER_CASES
        rejected = str(row.get("rejected", "")).strip()
        example["non_trivial"] = optimizer_row and rejected not in ("", str(row.get("r_p", "")))
    return examples


def evaluate_gate(
    name: str,
    trained_model: str | Path,
    settings: TrainSettings,
    eval_rows: Sequence[Mapping[str, Any]],
    rewrite_examples: Sequence[Mapping[str, str]],
    gate: GateSettings,
    *,
    prepare: Prepare,
    template_path: str | None,
    max_new_tokens: int,
) -> GateResult:
    """Compare ``trained_model`` with ``settings.base_model`` on the held-out rows."""
    from fipo_utils.models.pool import get_model

    base, trained = settings.base_model, str(trained_model)
    result = GateResult(name, base, weights=_weights(trained))
    if eval_rows:
        tokenizer = get_model(base, dtype=settings.dtype).tokenizer
        examples = gate_examples(settings, eval_rows, tokenizer, prepare)
        before = heldout_scores(base, examples, settings.dtype)
        after = heldout_scores(trained, examples, settings.dtype)
        n = before["n"]
        result.checks.append(
            GateCheck(
                "held-out loss",
                before["loss"],
                after["loss"],
                before["loss"] - after["loss"],
                gate.min_loss_drop,
                n,
            )
        )
        if settings.strategy != "sft":
            pairs = before.get("n_pairs", 0)
            for key, threshold in (
                ("accuracy", gate.min_accuracy_gain),
                ("margin", gate.min_margin_gain),
            ):
                result.checks.append(
                    _check(f"preference {key}", before.get(key), after.get(key), threshold, pairs)
                )
    if rewrite_examples and gate.n_rewrites:
        chosen = list(rewrite_examples)[: gate.n_rewrites]
        references = [e["reference"] for e in chosen]
        similarity = {
            model: similarity_to_references(
                heldout_rewrites(
                    model,
                    chosen,
                    prompt_format=settings.prompt_format,
                    template_path=template_path,
                    max_new_tokens=max_new_tokens,
                ),
                references,
            )
            for model in (base, trained)
        }
        result.checks.append(
            _check(
                "rewrite similarity",
                similarity[base],
                similarity[trained],
                gate.min_similarity_gain,
                len(chosen),
            )
        )
    return result


def ensure_gate(
    run_dir: str | Path,
    profile: str | Mapping[str, Any],
    settings: TrainSettings,
    name: str,
    *,
    trained_file: str | Path,
    n_trained: int | None,
    eval_rows: Sequence[Mapping[str, Any]],
    prepare: Prepare,
) -> GateResult:
    """The gate of ``checkpoints/<name>``: read if written, else measured and written."""
    from fipo_utils.runs.profiles import load_profile
    from fipo_utils.runs.settings import InferSettings
    from fipo_utils.training.preview import held_out_examples

    checkpoint_dir = Path(run_dir) / "checkpoints" / name
    saved = read_gate(checkpoint_dir)
    if saved is not None and saved.weights == _weights(checkpoint_dir / "final"):
        return saved
    data = load_profile(profile) if isinstance(profile, str) else profile
    gate = GateSettings.from_profile(data)
    examples = held_out_examples(run_dir, trained_file, n_trained, n=gate.n_rewrites)
    result = evaluate_gate(
        name,
        checkpoint_dir / "final",
        settings,
        eval_rows,
        examples,
        gate,
        prepare=prepare,
        template_path=data.get("diversify", {}).get("template"),
        max_new_tokens=InferSettings.from_profile(data).max_new_tokens,
    )
    write_gate(checkpoint_dir, result)
    return result


def _weights(model_dir: str | Path) -> str:
    from fipo_utils.models.cache import model_identity

    return model_identity(str(Path(model_dir).resolve()))


def write_gate(checkpoint_dir: str | Path, result: GateResult) -> Path:
    path = Path(checkpoint_dir) / GATE_FILE
    write_json_atomic(path, result.as_dict())
    return path


def read_gate(checkpoint: str | Path) -> GateResult | None:
    """The gate of a checkpoint folder (``checkpoints/<name>`` or its ``final/``), if any."""
    folder = Path(checkpoint)
    if folder.name == "final":
        folder = folder.parent
    path = folder / GATE_FILE
    data = read_json_or_none(path)
    if data is None:
        return None
    result = GateResult.from_dict(data, str(path))
    differ = _differ_path(folder)
    extra = None if differ is None else read_json_or_none(differ)
    if extra is not None:
        try:
            check = GateCheck(**{k: v for k, v in extra.items() if k != "passed"})
        except TypeError as error:
            raise ValueError(f"{differ}: not a gate check ({error})") from None
        result.checks = [c for c in result.checks if c.name != check.name] + [check]
    return result


def _differ_path(checkpoint_dir: Path) -> Path | None:
    """``<run>/optimized/<name>/gate_differ.json`` for ``<run>/checkpoints/<name>``."""
    if checkpoint_dir.parent.name != "checkpoints":
        return None
    return checkpoint_dir.parent.parent / "optimized" / checkpoint_dir.name / DIFFER_FILE


def gate_label(checkpoint: str | Path) -> str:
    """``"trained (gate passed)"``, ``"not trained (gate: <failed checks>)"``, or
    ``"not gated"`` for a checkpoint without ``gate.json``."""
    result = read_gate(checkpoint)
    return "not gated" if result is None else result.label()


def differ_share(
    run_dir: str | Path, optimizer: str, base: str = "base"
) -> tuple[float | None, int]:
    """(share of items whose rewrite differs from the base's, items compared) over every
    benchmark both ``optimized/<optimizer>/`` and ``optimized/<base>/`` hold (notebook 05)."""
    from fipo_utils.runs.records import read_rewrites

    root = Path(run_dir) / "optimized"
    compared = differ = 0
    for path in sorted((root / optimizer).glob("*.jsonl")):
        base_path = root / base / path.name
        if not base_path.is_file():
            continue
        theirs = {(r.benchmark, r.id): r.optimized_instruction for r in read_rewrites(base_path)}
        for record in read_rewrites(path):
            key = (record.benchmark, record.id)
            if key in theirs:
                compared += 1
                differ += record.optimized_instruction.strip() != theirs[key].strip()
    return (differ / compared if compared else None), compared


def add_differ_share(
    run_dir: str | Path, optimizer: str, base: str = "base", profile: str | Mapping | None = None
) -> GateResult | None:
    """Write (or refresh) the benchmark-rewrite check of ``checkpoints/<optimizer>`` into
    ``optimized/<optimizer>/gate_differ.json`` from the run's rewrite files and return the
    joined gate; ``None`` when the checkpoint has no gate. An unchanged check leaves the
    file untouched, so a later 05 step does not make earlier steps stale."""
    from fipo_utils.runs.profiles import load_profile

    checkpoint_dir = Path(run_dir) / "checkpoints" / optimizer
    if read_gate(checkpoint_dir) is None:
        return None
    data = load_profile(profile) if isinstance(profile, str) else (profile or {})
    threshold = GateSettings.from_profile(data).min_differ_share
    share, n = differ_share(run_dir, optimizer, base)
    check = GateCheck("benchmark rewrites differing from base", 0.0, share, share, threshold, n)
    path = Path(run_dir) / "optimized" / optimizer / DIFFER_FILE
    record = {**asdict(check), "passed": check.passed}
    write_text_preserving(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return read_gate(checkpoint_dir)


def refresh_differ_shares(run_dir: str | Path, profile: str | Mapping | None = None) -> list[str]:
    """:func:`add_differ_share` for every gated checkpoint that notebook 05 has rewritten
    with, once the base's rewrites exist (05 runs optimizers in any order); returns their
    names."""
    root = Path(run_dir)
    if not (root / "optimized" / "base").is_dir():
        return []
    refreshed = []
    for gate_file in sorted((root / "checkpoints").glob(f"*/{GATE_FILE}")):
        name = gate_file.parent.name
        if (root / "optimized" / name).is_dir() and add_differ_share(root, name, profile=profile):
            refreshed.append(name)
    return refreshed


def reward_gate(
    name: str,
    base_model: str,
    log_history: Sequence[Mapping[str, Any]],
    n_dev: int,
    profile: Mapping[str, Any],
) -> GateResult:
    """The gate of a GRPO checkpoint: its mean dev reward at the end against the untrained
    policy's (the first evaluation, before any step), on the same dev items."""
    rewards = [float(h["eval_reward"]) for h in log_history if "eval_reward" in h]
    first, last = (rewards[0], rewards[-1]) if len(rewards) >= 2 else (None, None)
    gain = None if first is None or last is None else last - first
    threshold = GateSettings.from_profile(profile).min_reward_gain
    check = GateCheck("dev reward", first, last, gain, threshold, n_dev)
    return GateResult(name, base_model, [check])
