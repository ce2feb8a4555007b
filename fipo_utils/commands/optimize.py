"""``fipo optimize "PROMPT"``: print the optimized version of a prompt.

The optimizer is resolved by the optimizer registry, as in notebook 05 (``--model`` takes any
name it knows: a checkpoint folder, a hub id, ``base``, ``bpo-style``). ``--response`` and
``--ground-truth`` fill the template's silver- and golden-response slots (the training-time
variants); without them the prompt is rewritten in the test-time form, as for benchmarks.
"""

from __future__ import annotations

import argparse

HELP = "Rewrite a prompt with a FIPO optimizer (a trained checkpoint or a base model)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", help="the naive prompt to optimize")
    parser.add_argument("--response", help="a (silver) response to the prompt, if you have one")
    parser.add_argument("--ground-truth", help="a reference (golden) response or answer")
    parser.add_argument(
        "--model",
        default=None,
        help="optimizer: a model folder (e.g. runs/<run>/checkpoints/ipl-ipo-lora/final), a hub "
        "id or a built-in name; default: the profile's models.optimizer_base",
    )
    parser.add_argument("--profile", default="smoke", help="profile for defaults (smoke)")
    parser.add_argument("--template", default=None, help="a prompts.json-shaped template file")
    parser.add_argument("--max-new-tokens", type=int, default=None)
    parser.add_argument("--temperature", type=float, default=None)
    parser.add_argument("--backend", default=None, choices=["transformers", "vllm", "vllm-server"])
    parser.add_argument(
        "--prompt-format",
        default=None,
        choices=["tulu", "chat_template", "raw"],
        help="chat format of the optimizer (default: the profile's models.prompt_format)",
    )
    parser.add_argument("--show-raw", action="store_true", help="also print the raw output")


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from fipo_utils.data.benchmarks import BenchmarkItem
    from fipo_utils.inference.optimize_step import optimizer_context
    from fipo_utils.inference.optimizers import FipoOptimizer
    from fipo_utils.inference.registry import get_optimizer
    from fipo_utils.models.generators import decoding_params, generator_from_settings
    from fipo_utils.runs.errors import SettingsError
    from fipo_utils.runs.profiles import load_step
    from fipo_utils.runs.schema import check_value
    from fipo_utils.runs.settings import InferSettings, ModelsSettings

    if not args.prompt.strip():
        raise SettingsError("PROMPT is empty: give the naive prompt to optimize, in quotes")
    for flag, value in (("--response", args.response), ("--ground-truth", args.ground_truth)):
        if value is not None and not value.strip():
            raise SettingsError(f"{flag} is empty: leave it out, or give the text")
    for key in ("max_new_tokens", "temperature"):
        if getattr(args, key) is not None:
            check_value(key, getattr(args, key), "--" + key.replace("_", "-"))
    profile, infer = load_step(
        args.profile,
        "infer",
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        backend=args.backend,
        template=args.template,
    )
    models = ModelsSettings.from_profile(profile)
    settings = InferSettings.from_section(infer, profile)
    context = replace(
        optimizer_context(None, models, settings, decoding_params(settings)),
        prompt_format=args.prompt_format or models.prompt_format,
        open_generator=lambda model: generator_from_settings(
            model, settings, models, show_progress=False
        ),
    )
    optimizer = get_optimizer(args.model or "base", context)
    slots = args.response is not None or args.ground_truth is not None
    try:
        if isinstance(optimizer, FipoOptimizer):
            (result,) = optimizer.rewrite_texts(
                [args.prompt],
                responses=[args.response] if args.response is not None else None,
                ground_truths=[args.ground_truth] if args.ground_truth is not None else None,
            )
        elif slots:
            raise SettingsError(
                f"--response and --ground-truth fill the FIPO template; {optimizer.name} is a "
                f"{optimizer.kind} optimizer without those slots"
            )
        else:
            item = BenchmarkItem(
                id="prompt", benchmark="prompt", few_shot_context="", instruction=args.prompt
            )
            (result,) = optimizer.rewrite([item])
    finally:
        optimizer.close()  # a vLLM engine left to interpreter exit can abort the process
    if args.show_raw:
        print(f"--- raw optimizer output ---\n{result.raw_output}\n--- optimized prompt ---")
    print(result.prompt)
    return 0
