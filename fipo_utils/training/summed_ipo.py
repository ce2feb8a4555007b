"""IPO on summed sequence log-probabilities, as the original FIPO code trained it.

trl's ``loss_type="ipo"`` divides each completion's log-ratio by its token count before
taking ``(margin - 1/(2 beta))**2``. The original FIPO code (an older trl) summed the token
log-probabilities instead, so at beta 0.01 the *summed* margin is pushed towards 50 nats.
``SummedIPOTrainer`` computes that original loss and reuses everything else of trl's
``DPOTrainer`` (data, reference handling, precomputed reference log-probs, logging).
"""

from __future__ import annotations

import torch
from trl import DPOTrainer

IPO_VARIANTS = ("averaged", "summed")


class SummedIPOTrainer(DPOTrainer):
    """``DPOTrainer`` whose loss is ``((logr_c - logr_r) - 1/(2 beta))**2`` on summed log-probs."""

    def _compute_loss(self, model, inputs, return_outputs):
        if return_outputs:
            raise ValueError("SummedIPOTrainer does not return logits; use prediction_loss_only")
        mode = "train" if model.training else "eval"
        skip = {"completion_mask", "ref_chosen_logps", "ref_rejected_logps"}
        model_kwargs = {k: v for k, v in inputs.items() if k not in skip}
        model_kwargs["use_cache"] = False
        completion_mask = inputs["completion_mask"]
        labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
        outputs = model(**model_kwargs, labels=labels, fused_lm_head=True)
        seq_len = completion_mask.size(1) - 1
        chosen_logps, rejected_logps = outputs.log_probs[:, -seq_len:].sum(dim=1).chunk(2, dim=0)
        if self.precompute_ref_logps:
            ref_chosen, ref_rejected = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
        else:
            # Same reference trl uses: the frozen copy, or the policy with adapters disabled.
            ref_chosen, ref_rejected = self.compute_ref_log_probs(
                self.ref_model or self.model, inputs
            )
        chosen_ratio = chosen_logps - ref_chosen
        rejected_ratio = rejected_logps - ref_rejected
        margin = chosen_ratio - rejected_ratio
        loss = ((margin - 1 / (2 * self.beta)) ** 2).mean()
        self._log_pair_metrics(mode, chosen_ratio.detach(), rejected_ratio.detach(), chosen_logps)
        return loss

    def _log_pair_metrics(
        self, mode: str, chosen_ratio: torch.Tensor, rejected_ratio: torch.Tensor, chosen_logps
    ) -> None:
        """The reward metrics trl logs for DPO, so plots read the same for every loss."""
        chosen = self.accelerator.gather(self.beta * chosen_ratio)
        rejected = self.accelerator.gather(self.beta * rejected_ratio)
        metrics = self._metrics[mode]
        metrics["rewards/chosen"].append(chosen.mean().item())
        metrics["rewards/rejected"].append(rejected.mean().item())
        metrics["rewards/accuracies"].append((chosen > rejected).float().mean().item())
        metrics["rewards/margins"].append((chosen - rejected).mean().item())
        metrics["logps/chosen"].append(self.accelerator.gather(chosen_logps.detach()).mean().item())
