"""GPU-resident multimodal backends on transformers: the Qwen2.5-Omni thinker (``omni``) and image-text-to-text
models (``vlm``: Qwen2-VL / Qwen2.5-VL, SmolVLM2, Idefics3, LLaVA-OneVision).

The stream is prefilled into one KV cache per session in ~1 s chunks as it arrives; a question prefills only its own
tokens and is answered on a fork of the cache that is cropped back afterwards. Memory is bounded by a sink + sliding
window over stream chunks, optional text-prior KV compression and near-duplicate frame dropping.
"""
