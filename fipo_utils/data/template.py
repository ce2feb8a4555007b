"""The modular FIPO meta-template as data: loading, slot rendering, and chat wrapping.

A template is five strings with literal slot names (the paper's modular template):

- ``optimizer``: the rewrite instruction; slots ``S_P`` (naive prompt), ``O_C`` (optional
  content: nothing, the silver block, the golden block, or both, silver first) and ``G_N``
  (word limit).
- ``s_r`` / ``g_r``: the silver- and golden-response blocks that fill ``O_C``; slots ``S_R``
  and ``G_R``.
- ``discriminator``: asks which of two rewrites is better; slots ``R_P``, ``P_A``, ``P_B``, ``G_R``.
- ``instruction``: the instruction-following row of IPL data; slots ``G_N`` and ``R_P``. The
  original project hard-coded it in its script, so a ``prompts.json``-shaped file without this
  key gets the original wording.

Rendering substitutes every slot in one pass over the *template*: text that is inserted is
never scanned again, so a prompt that happens to contain ``G_N`` or ``S_R`` arrives intact.
The original project chained ``str.replace`` calls instead, which rewrites such text; that
behaviour lives on only in :func:`substitute_sequential`, used by the faithful diversification
mode. Both give identical bytes whenever no inserted text contains a slot name.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from fipo_utils.runs.settings import DEFAULT_PROMPT_FORMAT, ModelsSettings, format_for

SLOT_NAMES = ("S_P", "O_C", "G_N", "S_R", "G_R", "R_P", "P_A", "P_B")
_SLOT_PATTERN = re.compile("|".join(re.escape(name) for name in SLOT_NAMES))

TULU_USER = "<|user|>\n"
TULU_ASSISTANT = "<|assistant|>\n"
PROMPT_FORMATS = ("tulu", "chat_template", "raw")

# The wording the original script used for instruction-following rows (a format string there).
ORIGINAL_INSTRUCTION = "Answer the question with no more than G_N words: R_P"
DEFAULT_TEMPLATE_PATH = Path(__file__).resolve().parent / "resources" / "default_template.json"
ORIGINAL = "original"  # a template setting naming the original prompts.json of the reference data

# Slots each template string must contain; a template missing one would silently drop content.
_REQUIRED_SLOTS = {
    "optimizer": ("S_P", "O_C"),
    "s_r": ("S_R",),
    "g_r": ("G_R",),
    "discriminator": ("R_P", "P_A", "P_B"),
    "instruction": ("R_P",),
}


class TemplateError(ValueError):
    """A template file is unreadable, has a missing or non-string field, or lacks a slot."""


@dataclass(frozen=True)
class Template:
    """The meta-template strings, with their literal slot names."""

    optimizer: str
    s_r: str
    g_r: str
    discriminator: str
    instruction: str = ORIGINAL_INSTRUCTION


def original_template_path() -> Path | None:
    """The original project's ``prompts.json`` in the reference data, if it is there."""
    from fipo_utils.runs.paths import reference_data_dir

    root = reference_data_dir()
    path = root / "fipo" / "prompts.json" if root else None
    return path if path and path.is_file() else None


def resolve_template_path(path: str | Path | None) -> tuple[Path, str]:
    """The file a template setting names, and a sentence saying which wording it is.

    ``None`` is the project's own wording; ``"original"`` is the original ``prompts.json``
    (``fipo/prompts.json`` under ``FIPO_DATA_DIR``), or the project's wording when that file
    is absent, which the sentence then says; anything else is a path.
    """
    if path is None:
        return DEFAULT_TEMPLATE_PATH, "the project's own template wording"
    if str(path) == ORIGINAL:
        found = original_template_path()
        if found is None:
            return DEFAULT_TEMPLATE_PATH, (
                "template 'original' asked for, but fipo/prompts.json is not under the reference "
                "data (FIPO_DATA_DIR): using the project's own wording instead"
            )
        return found, f"the original FIPO template strings ({found})"
    return Path(path), f"the template file {path}"


def load_template(path: str | Path | None = None) -> Template:
    """Load a template from a JSON object of strings (the shape of the original ``prompts.json``).

    ``None`` loads the project's own default template (own wording, same slots);
    ``"original"`` the original strings when the reference data has them (see
    :func:`resolve_template_path`; a fallback is reported as a warning). Use the original
    strings when driving a trained FIPO model: it expects those exact bytes.
    """
    source, note = resolve_template_path(path)
    if str(path) == ORIGINAL and source == DEFAULT_TEMPLATE_PATH:
        warnings.warn(note, stacklevel=2)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TemplateError(f"{source}: template file not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TemplateError(f"{source}: not a valid UTF-8 JSON file ({error})") from None
    return template_from_mapping(data, source=str(source))


def template_from_mapping(data: Any, *, source: str = "<template>") -> Template:
    """Validate a mapping of template strings and build a :class:`Template`."""
    if not isinstance(data, dict):
        raise TemplateError(f"{source}: a template must be a JSON object of strings")
    known = {f.name for f in fields(Template)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise TemplateError(
            f"{source}: unknown field(s) {unknown}; expected {sorted(known)}"
            " ('instruction' is optional)"
        )
    values = {}
    for name in known:
        if name not in data:
            if name == "instruction":
                continue
            raise TemplateError(f"{source}: field {name!r} is missing")
        value = data[name]
        if not isinstance(value, str):
            raise TemplateError(
                f"{source}: field {name!r} must be a string, got {type(value).__name__}"
            )
        missing_slots = [slot for slot in _REQUIRED_SLOTS[name] if slot not in value]
        if missing_slots:
            raise TemplateError(f"{source}: field {name!r} lacks slot(s) {missing_slots}")
        values[name] = value
    return Template(**values)


def substitute_slots(text: str, values: Mapping[str, str]) -> str:
    """Replace each slot named in ``values`` in one left-to-right pass over ``text``.

    Inserted values are never re-scanned, so they may contain slot names safely. Slots not
    in ``values`` are left as they are.
    """
    unknown = set(values) - set(SLOT_NAMES)
    if unknown:
        raise KeyError(f"not slot names: {sorted(unknown)}")

    def fill(match: re.Match[str]) -> str:
        return values.get(match.group(0), match.group(0))

    return _SLOT_PATTERN.sub(fill, text)


def substitute_sequential(text: str, replacements: Sequence[tuple[str, str]]) -> str:
    """The original project's chained ``str.replace``: each step re-scans earlier insertions.

    Only for the faithful diversification mode, which must reproduce the original bytes,
    corruption of prompts that contain slot names included.
    """
    for slot, value in replacements:
        text = text.replace(slot, value)
    return text


# The prompt labels a rewrite may head itself with or loop back to, whatever the template:
# the original strips "Golden Prompt:" from every reply; the project's template asks for an
# "Improved Prompt" of an "Original Prompt".
REWRITE_LABELS = ("Golden Prompt:", "Improved Prompt:", "Original Prompt:")
# A header of the optimizer template: the label line that opens a fenced block.
_HEADER = re.compile(r"```\n([^\n`]+:)\n")


def template_labels(template: Template) -> tuple[str, ...]:
    """The labels of the optimizer template's blocks (``Original Prompt:``, ``Draft
    Response:``, ... or the original's ``Sliver Prompt:``, ...) and :data:`REWRITE_LABELS`:
    a rewrite that contains one is echoing the template instead of ending."""
    found = _HEADER.findall(template.optimizer + template.s_r + template.g_r)
    return tuple(dict.fromkeys([*found, *REWRITE_LABELS]))


def label_stops(template: Template) -> tuple[str, ...]:
    """Stop strings of a rewrite: a template label or a code fence on a new line.

    Each starts with a newline, so a reply may still open with a label (``Golden Prompt:
    ...``, stripped afterwards as the original did) and ends where the next block of the
    template would begin, instead of looping until the token limit."""
    return (*("\n" + label for label in template_labels(template)), "\n```")


def count_words(text: str) -> int:
    """``G_N``: the number of single-space-separated pieces, as the original counted them.

    ``split(" ")`` (not ``split()``) is deliberate: newlines and double spaces count the way
    the original's word limits were computed, so limits match the published data.
    """
    return len(text.split(" "))


def optimizer_skeleton(template: Template, *, with_silver: bool, with_golden: bool) -> str:
    """The optimizer template with ``O_C`` filled by the chosen response blocks (silver first)."""
    optional = (template.s_r if with_silver else "") + (template.g_r if with_golden else "")
    return template.optimizer.replace("O_C", optional)


def render_optimizer_prompt(
    template: Template,
    naive_prompt: str,
    *,
    silver_response: str | None = None,
    golden_response: str | None = None,
    word_limit: int,
) -> str:
    """The optimizer input for one of the four variants (unwrapped text).

    Passing ``silver_response`` and/or ``golden_response`` selects the variant: neither (the
    test-time form), silver, golden, or both. ``word_limit`` fills ``G_N``.
    """
    skeleton = optimizer_skeleton(
        template, with_silver=silver_response is not None, with_golden=golden_response is not None
    )
    values = {"S_P": naive_prompt, "G_N": str(word_limit)}
    if silver_response is not None:
        values["S_R"] = silver_response
    if golden_response is not None:
        values["G_R"] = golden_response
    return substitute_slots(skeleton, values)


def render_discriminator_prompt(
    template: Template,
    raw_prompt: str,
    prompt_a: str,
    prompt_b: str,
    golden_response: str,
    *,
    word_limit: int = 1,
) -> str:
    """The discriminator input (unwrapped): which of prompts A and B is better for ``raw_prompt``.

    ``word_limit`` fills a ``G_N`` slot if a custom template has one; the expected answer is one
    letter, hence 1 (what the original computed).
    """
    values = {
        "R_P": raw_prompt,
        "P_A": prompt_a,
        "P_B": prompt_b,
        "G_R": golden_response,
        "G_N": str(word_limit),
    }
    return substitute_slots(template.discriminator, values)


def render_instruction_prompt(template: Template, question: str, *, word_limit: int) -> str:
    """The instruction-following input of IPL data: answer ``question`` in ``word_limit`` words."""
    return substitute_slots(template.instruction, {"R_P": question, "G_N": str(word_limit)})


def wrap_tulu(text: str) -> str:
    """The Tulu 2 chat format the paper's models expect: ``<|user|>\\n{text}<|assistant|>\\n``."""
    return TULU_USER + text + TULU_ASSISTANT


def unwrap_tulu(text: str) -> str:
    """Inverse of :func:`wrap_tulu`; raises ``ValueError`` if ``text`` is not Tulu-wrapped."""
    if not (text.startswith(TULU_USER) and text.endswith(TULU_ASSISTANT)):
        raise ValueError(f"not a Tulu-wrapped prompt: {text[:40]!r}...")
    return text[len(TULU_USER) : len(text) - len(TULU_ASSISTANT)]


def prompt_format_for(models: ModelsSettings | Mapping[str, Any], model: str) -> str:
    """The chat format a profile gives ``model``: its entry in ``models.prompt_formats`` (by
    name or by the last part of a path), else ``models.prompt_format``
    (:class:`~fipo_utils.runs.settings.ModelsSettings`, or the ``models`` mapping).

    Testers of different families need different formats: SmolLM2 answers in its own chat
    template, a base model such as Gemma-3-270M has none and reads the raw few-shot prompt.
    """
    if isinstance(models, ModelsSettings):
        return models.format_for(model)
    return format_for(
        models.get("prompt_formats") or {},
        models.get("prompt_format", DEFAULT_PROMPT_FORMAT),
        model,
    )


def wrap_prompt(text: str, fmt: str, tokenizer: Any = None) -> str:
    """Wrap ``text`` as a single user turn in the chat format a model was trained on.

    ``fmt`` is the profile's ``models.prompt_format``: ``"tulu"`` (paper models),
    ``"chat_template"`` (the tokenizer's own template, e.g. SmolLM2; needs ``tokenizer``), or
    ``"raw"`` (no wrapping).
    """
    if fmt == "tulu":
        return wrap_tulu(text)
    if fmt == "raw":
        return text
    if fmt == "chat_template":
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise ValueError("prompt format 'chat_template' needs a tokenizer with a chat template")
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
        )
        # A template that writes the BOS text (Gemma, Llama) for a tokenizer that adds BOS
        # itself would give two, in trl's training and at inference alike: keep the tokenizer's.
        bos = getattr(tokenizer, "bos_token", None)
        if bos and rendered.startswith(bos) and _tokenizer_adds_bos(tokenizer):
            return rendered[len(bos) :]
        return rendered
    raise ValueError(f"unknown prompt format {fmt!r}; expected one of {PROMPT_FORMATS}")


def _tokenizer_adds_bos(tokenizer: Any) -> bool:
    ids = tokenizer("A").input_ids
    return bool(ids) and ids[0] == tokenizer.bos_token_id
