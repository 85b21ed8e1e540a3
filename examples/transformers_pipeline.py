"""Guard a transformers pipeline: its prompt is checked, its ``generated_text`` is checked.

Run: ``python examples/transformers_pipeline.py MODEL_PATH`` with any local text-generation model folder
(or a hub id, where a hub is reachable).
"""

from __future__ import annotations

import sys
from typing import Any

from guards import Guard


def build(model: str) -> tuple[Any, Any]:
    """The pipeline and its guarded form (the prompt is the pipeline's ``text_inputs``)."""
    from transformers import pipeline

    generator = pipeline("text-generation", model=model)
    return generator, Guard.from_policy("default").wrap(generator, prompt_arg="text_inputs")


def main(model: str) -> list[dict[str, str]]:
    """Generate a short continuation with a guarded pipeline and print it."""
    _, guarded = build(model)
    result: list[dict[str, str]] = guarded("Contact John Smith at john.smith@example.com about", max_new_tokens=8)
    print(result[0]["generated_text"])
    return result


if __name__ == "__main__":
    main(sys.argv[1])
