"""Training (notebooks 02, 03 and 04): turn a base model into a prompt optimizer.

One settings object per strategy over trl's trainers (SFT, DPO, IPO; FIPO §2.4, Eq. 8-11), LoRA,
IPO on summed log-probabilities, the IPL loop with the model as its own judge, previews and
training figures. Entry points: :func:`fipo_utils.training.train.train_strategy` (in-process)
and ``python -m fipo_utils.training`` (also under ``accelerate launch``). Reads ``data/``;
writes ``checkpoints/<name>/`` and ``train/<name>/``.
"""
