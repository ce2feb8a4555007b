"""Log-likelihood of a continuation after a context, the way lm-evaluation-harness scores
multiple choice (``acc`` / ``acc_norm``), computed once for what requests share.

A request is ``(context, continuation)``; its score is the summed log-probability of the
continuation's tokens given the context. Tokenization follows the harness's rule, so the
same pair gets the same tokens here and there: trailing whitespace of the context moves to
the continuation, the context is encoded alone, and the continuation's tokens are the tail
of the whole text's encoding after the context's token count.

Requests share a lot. The options of one item share its prompt; the items of a benchmark
(an MMLU subject), and both conditions and every optimizer, share the few-shot context at
the prompt's start. Scoring each pair in its own row computes those tokens again for every
option of every item. Here (``share_prefix=True``):

1. requests are grouped by context (one group per item prompt);
2. groups whose contexts start alike are clustered (sorted contexts; a new cluster starts
   where neighbours share less than half of the shorter context); the cluster's common token
   prefix (the few-shot context) runs once and its key/value cache is kept (a small LRU,
   so later calls over the same benchmark reuse it);
3. each batch row then holds one item: the rest of its context followed by every option's
   tokens, with a 4D attention mask in which each option sees the prefix, the context and
   itself but not the other options, and position ids that restart after the context for
   every option. Every shared token is computed once.

``share_prefix=False`` scores each pair in its own row (the harness's way; pairs that feed
the same tokens read one row); tests check that both give the same scores to float
tolerance.

Sliding-window layers (Gemma 3: 512 tokens) see only the keys within their window of a
query. A model whose layers are full and sliding attention only (``config.layer_types``)
takes one 4D mask per layer type: the sliding one also hides every key more than a window
behind its query, by position id, so a row past the window scores as a plain forward does;
the prefix's cache then keeps every key (a plain ``DynamicCache``, whose layers do not drop
keys behind the window) for the mask to choose from. A model with a window but no such
layer types is scored one row per request where a row reaches past it, and the model
builds its own masks (requests that feed the same tokens, such as an item's option
letters, share their row).

Option letters (:meth:`ContinuationScorer.score_tokens`) are one-token continuations of an
item's prompt, already encoded (``fipo_utils.models.encoding.option_targets``): all the
letters of a prompt are one row, and the few-shot prefix of a benchmark runs once for every
item, condition and optimizer in a call.

A pair longer than the model's context window is cut from the left as the harness cuts it
(the model sees the last ``max_length`` tokens before each scored one), so a 5-shot MMLU
prompt of a long subject gets the harness's score rather than positions the model never
learnt.

Only the positions whose next token is scored go through the output layer, which keeps the
vocabulary-sized logits small.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from fipo_utils.models.encoding import adds_special_tokens

__all__ = [
    "ContinuationScorer",
    "encode_pair",
    "best_options",
    "model_max_length",
    "sliding_window",
]

_DEFAULT_MAX_LENGTH = 2048  # the harness's fallback when neither config nor tokenizer says


def encode_pair(
    tokenizer: PreTrainedTokenizerBase, context: str, continuation: str
) -> tuple[list[int], list[int]]:
    """Context and continuation token ids as lm-evaluation-harness forms them (see module)."""
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    if not context:
        raise ValueError("continuation scoring needs a non-empty context")
    whole = tokenizer(context + continuation, add_special_tokens=False).input_ids
    context_ids = tokenizer(context, add_special_tokens=False).input_ids
    continuation_ids = whole[len(context_ids) :]
    if not continuation_ids:
        raise ValueError(f"continuation {continuation!r} encodes to no token after its context")
    return list(context_ids), list(continuation_ids)


def model_max_length(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> int:
    """The context window the harness assumes for a model: the config's position count,
    else the tokenizer's ``model_max_length`` when it is a real number, else 2048."""
    config = getattr(model, "config", None)
    config = getattr(config, "text_config", None) or config
    for name in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    value = getattr(tokenizer, "model_max_length", None)
    if isinstance(value, int) and 0 < value < 10**9:  # transformers' "unset" is 1e30
        return value
    return _DEFAULT_MAX_LENGTH


def fit_window(
    context: list[int], continuation: list[int], max_length: int
) -> tuple[list[int], list[int]]:
    """Drop the context's first tokens until context + continuation minus its last token
    fits ``max_length`` (the harness's ``(context + continuation)[-(max_length + 1):]``)."""
    overflow = len(context) + len(continuation) - 1 - max_length
    if overflow <= 0:
        return context, continuation
    if overflow >= len(context):
        raise ValueError(
            f"a continuation of {len(continuation)} tokens does not fit a window of {max_length}"
        )
    return context[overflow:], continuation


def best_options(scores: Sequence[float], options: Sequence[str]) -> tuple[int, int]:
    """Index of the best option by summed log-likelihood (the harness's ``acc``) and by
    log-likelihood per character of the option text (its ``acc_norm``); ties go to the
    first option, as ``numpy.argmax`` does."""
    if len(scores) != len(options):
        raise ValueError(f"{len(scores)} scores for {len(options)} options")
    normed = [score / max(len(text), 1) for score, text in zip(scores, options, strict=True)]
    return (
        max(range(len(scores)), key=lambda i: (scores[i], -i)),
        max(range(len(normed)), key=lambda i: (normed[i], -i)),
    )


def sliding_window(model: PreTrainedModel) -> int | None:
    """The window of ``model``'s sliding-window attention layers; ``None`` without any."""
    config = getattr(model, "config", None)
    config = getattr(config, "text_config", None) or config
    layer_types = getattr(config, "layer_types", None) or []
    window = getattr(config, "sliding_window", None)
    if not window or (layer_types and "sliding_attention" not in layer_types):
        return None
    return int(window)


@dataclass
class _Group:
    """The requests that share one context: an item prompt and its options."""

    context: list[int]
    members: list[tuple[int, list[int]]]  # (request index, continuation ids)


class ContinuationScorer:
    """Summed continuation log-probabilities for a causal LM, batched, prefixes shared."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        batch_size: int = 8,
        share_prefix: bool = True,
        prefix_cache_size: int = 4,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = max(1, int(batch_size))
        self.share_prefix = share_prefix
        self.window = sliding_window(model)
        # the layer types the shared path builds a mask for (see module); None: one mask
        self.mask_types = _mask_types(model) if self.window is not None else None
        # A model trained with BOS (SentencePiece tokenizers) sees it in front of the context,
        # as at training and generation (fipo_utils.models.encoding); byte-level ones add none.
        bos = tokenizer.bos_token_id
        self._bos = [bos] if bos is not None and adds_special_tokens(tokenizer) else []
        self.max_length = model_max_length(model, tokenizer)
        self.prefix_cache_size = prefix_cache_size
        self._prefixes: OrderedDict[tuple[int, ...], list[tuple[torch.Tensor, ...]]] = OrderedDict()
        self.tokens_computed = 0  # tokens run through the model, for benchmarks and tests
        self.requests_unshared = 0  # requests scored one row each, for benchmarks and tests

    def score(self, requests: Sequence[tuple[str, str]]) -> list[float]:
        """One summed log-probability per ``(context, continuation)``, in the order given."""
        encoded = [encode_pair(self.tokenizer, c, x) for c, x in requests]
        if self._bos:
            encoded = [(self._bos + context, continuation) for context, continuation in encoded]
        return self.score_tokens([fit_window(c, x, self.max_length) for c, x in encoded])

    def score_tokens(self, encoded: Sequence[tuple[Sequence[int], Sequence[int]]]) -> list[float]:
        """``score`` for requests already encoded: ``(context ids, continuation ids)`` with
        every special token in place (option letters: ``encoding.option_targets``)."""
        pairs = [(list(c), list(x)) for c, x in encoded]
        scores: list[float] = [0.0] * len(pairs)
        shared = [i for i, (c, x) in enumerate(pairs) if self.share_prefix and self._fits(c, x)]
        alone = sorted(set(range(len(pairs))) - set(shared))
        if alone:
            self._score_unshared(pairs, alone, scores)
        groups: dict[tuple[int, ...], _Group] = {}
        for index in shared:
            context, continuation = pairs[index]
            key = tuple(context)
            groups.setdefault(key, _Group(context, [])).members.append((index, continuation))
        ordered = [groups[key] for key in sorted(groups)]
        for cluster, prefix_len in _clusters(ordered):
            prefix = tuple(cluster[0].context[:prefix_len])
            cluster.sort(key=lambda g: len(g.context) + sum(len(c) for _, c in g.members))
            for start in range(0, len(cluster), self.batch_size):
                self._score_groups(prefix, cluster[start : start + self.batch_size], scores)
        return scores

    def _fits(self, context: list[int], continuation: list[int]) -> bool:
        """Whether the shared path scores the request exactly: always, unless the model has
        a window the per-type masks cannot express and the request feeds a position past
        it (its last fed token sits at ``len(context + continuation) - 2``)."""
        if self.window is None or self.mask_types is not None:
            return True
        return len(context) + len(continuation) - 1 <= self.window

    # --- shared path ------------------------------------------------------------------

    @torch.inference_mode()
    def _prefix_cache(self, prefix: tuple[int, ...]) -> list[tuple[torch.Tensor, ...]]:
        """Per-layer (key, value) tensors of the prefix, batch size 1, from the LRU."""
        if prefix in self._prefixes:
            self._prefixes.move_to_end(prefix)
            return self._prefixes[prefix]
        from transformers import DynamicCache

        ids = torch.tensor([prefix], device=self.model.device)
        # layers without a window type keep every key (see module)
        output = self.model.base_model(ids, None, None, DynamicCache(), use_cache=True)
        self.tokens_computed += len(prefix)
        layers: list[tuple[torch.Tensor, ...]] = [
            (layer.keys, layer.values) for layer in output[1].layers
        ]
        self._prefixes[prefix] = layers
        while len(self._prefixes) > self.prefix_cache_size:
            self._prefixes.popitem(last=False)
        return layers

    @torch.inference_mode()
    def _score_groups(
        self, prefix: tuple[int, ...], groups: list[_Group], scores: list[float]
    ) -> None:
        from transformers import DynamicCache

        past = len(prefix)
        rows: list[list[int]] = []
        positions: list[list[int]] = []
        # visible[r][q] = (first key, end key) ranges this query token attends to, besides
        # the prefix: its context and, for an option token, that option's earlier tokens.
        segments: list[list[tuple[int, int, int]]] = []  # (start, end, context_end) per row
        targets: list[tuple[int, int, int, int]] = []  # (row, position, token, request)
        for row, group in enumerate(groups):
            context = group.context[past:]
            ids = list(context)
            pos = list(range(past, past + len(context)))
            spans = [(0, len(context), len(context))]
            for index, continuation in group.members:
                start = len(ids)
                fed = continuation[:-1]
                ids.extend(fed)
                pos.extend(range(past + len(context), past + len(context) + len(fed)))
                spans.append((start, start + len(fed), len(context)))
                for k, token in enumerate(continuation):
                    source = len(context) - 1 if k == 0 else start + k - 1
                    targets.append((row, source, token, index))
            rows.append(ids)
            positions.append(pos)
            segments.append(spans)
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id or 0
        dtype = self.model.dtype
        allowed = torch.zeros(len(rows), width, past + width, dtype=torch.bool)
        allowed[:, :, :past] = True
        for r, spans in enumerate(segments):
            context_end = spans[0][1]
            causal = torch.ones(context_end, context_end, dtype=torch.bool).tril()
            allowed[r, :context_end, past : past + context_end] = causal
            for start, end, _ in spans[1:]:
                if end > start:
                    allowed[r, start:end, past : past + context_end] = True
                    own = torch.ones(end - start, end - start, dtype=torch.bool).tril()
                    allowed[r, start:end, past + start : past + end] = own
            # padding: the row's last real key, at its own position; never read
            allowed[r, len(rows[r]) :, past + len(rows[r]) - 1] = True
        device = self.model.device
        input_ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=device)
        padded = torch.tensor([p + [p[-1]] * (width - len(p)) for p in positions])
        full = _additive(allowed, dtype).to(device)
        masks: torch.Tensor | dict[str, torch.Tensor] = full
        if self.mask_types is not None and self.window is not None:
            keys = torch.cat([torch.arange(past).expand(len(rows), -1), padded], dim=1)
            near = padded[:, :, None] - keys[:, None, :] < self.window
            sliding = _additive(allowed & near, dtype).to(device)
            masks = {t: sliding if t == "sliding_attention" else full for t in self.mask_types}
        cache = None
        if past:
            layers = self._prefix_cache(prefix)
            cache = DynamicCache(
                [
                    (k.expand(len(rows), -1, -1, -1), v.expand(len(rows), -1, -1, -1))
                    for k, v in layers
                ]
            )
        hidden = self.model.base_model(
            input_ids, masks, padded.to(device), cache, use_cache=past > 0
        )[0]
        self.tokens_computed += sum(len(r) for r in rows)
        self._gather(hidden, targets, scores)

    # --- unshared path (the harness's way: one row per request) ------------------------

    @torch.inference_mode()
    def _score_unshared(
        self, encoded: list[tuple[list[int], list[int]]], indices: list[int], scores: list[float]
    ) -> None:
        self.requests_unshared += len(indices)
        # Requests that feed the same tokens (an item's option letters: one-token
        # continuations of one context) are read off one row.
        readers: dict[tuple[int, ...], list[int]] = {}
        for i in indices:
            readers.setdefault(tuple((encoded[i][0] + encoded[i][1])[:-1]), []).append(i)
        order = sorted(readers, key=len, reverse=True)
        pad = self.tokenizer.pad_token_id or 0
        device = self.model.device
        for start in range(0, len(order), self.batch_size):
            rows = [list(fed) for fed in order[start : start + self.batch_size]]
            width = max(len(r) for r in rows)
            input_ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=device)
            attention = torch.tensor(
                [[1] * len(r) + [0] * (width - len(r)) for r in rows], device=device
            )
            targets = []
            for row, fed in enumerate(order[start : start + self.batch_size]):
                for i in readers[fed]:
                    context, continuation = encoded[i]
                    for k, token in enumerate(continuation):
                        targets.append((row, len(context) - 1 + k, token, i))
            hidden = self.model.base_model(input_ids, attention, None, None, use_cache=False)[0]
            self.tokens_computed += sum(len(r) for r in rows)
            self._gather(hidden, targets, scores)

    def _gather(
        self,
        hidden: torch.Tensor,
        targets: list[tuple[int, int, int, int]],
        scores: list[float],
    ) -> None:
        """Log-probabilities of the target tokens, through the output layer only where read."""
        rows = torch.tensor([t[0] for t in targets], device=hidden.device)
        cols = torch.tensor([t[1] for t in targets], device=hidden.device)
        tokens = torch.tensor([t[2] for t in targets], device=hidden.device)
        logits = self.model.get_output_embeddings()(hidden[rows, cols]).float()
        cap = getattr(self.model.config, "final_logit_softcapping", None)
        if cap:  # Gemma 2's head, applied as its causal-LM forward applies it
            logits = torch.tanh(logits / cap) * cap
        logprobs = torch.log_softmax(logits, dim=-1).gather(1, tokens[:, None])[:, 0].cpu()
        for (_, _, _, index), value in zip(targets, logprobs.tolist(), strict=True):
            scores[index] += value


def _mask_types(model: PreTrainedModel) -> tuple[str, ...] | None:
    """The model's attention layer types when they are full and sliding attention only
    (the forward then takes a mask per type); ``None`` otherwise."""
    config = getattr(model, "config", None)
    config = getattr(config, "text_config", None) or config
    kinds = tuple(sorted(set(getattr(config, "layer_types", None) or [])))
    return kinds if kinds and set(kinds) <= {"full_attention", "sliding_attention"} else None


def _additive(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A boolean (rows, queries, keys) mask as the additive (rows, 1, queries, keys) one."""
    mask = torch.zeros(allowed.shape, dtype=dtype)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[:, None]


def _common_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def _clusters(groups: list[_Group]) -> list[tuple[list[_Group], int]]:
    """Consecutive (sorted) groups whose contexts share at least half of the shorter one,
    each with the token count of their common prefix (one token short of the shortest
    context, so every row keeps a context token to predict its first option token from).
    Groups that share with no neighbour are batched together without a prefix."""
    clusters: list[tuple[list[_Group], int]] = []
    current: list[_Group] = []
    shared = 0
    for group in groups:
        if current:
            common = _common_length(current[-1].context, group.context)
            if 2 * common >= min(len(current[-1].context), len(group.context)):
                current.append(group)
                shared = min(shared, common)
                continue
            clusters.append((current, shared))
        current, shared = [group], len(group.context)
    if current:
        clusters.append((current, shared))
    alone = [c[0] for c, _ in clusters if len(c) == 1]  # nothing to share: batch them together
    shared_clusters = [(c, min(n, min(len(g.context) for g in c) - 1)) for c, n in clusters]
    return [(c, n) for c, n in shared_clusters if len(c) > 1] + ([(alone, 0)] if alone else [])
