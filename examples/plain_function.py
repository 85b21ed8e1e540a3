"""Guard a plain Python function that calls a model: three lines of ombud around your own call.

Run: ``python examples/plain_function.py``
"""

from __future__ import annotations

from guards import Blocked, Guard

guard = Guard.from_policy("default")
model_received: list[str] = []


@guard
def answer(prompt: str) -> str:
    """Stands in for your model call; it answers with what it was sent (pseudonyms included)."""
    model_received.append(prompt)
    return f"Noted: {prompt}"


def main() -> list[str]:
    """Guard a few prompts and print what the caller gets back."""
    replies = [
        answer("Hi, I'm Jane Doe, my email is jane.doe@example.com"),
        answer("Use card 4111 1111 1111 1111 for the order"),
    ]
    try:
        answer("x" * 40_000)
    except Blocked as blocked:
        replies.append(f"blocked: {blocked.decision.rules[0].label}")
    for sent, reply in zip(model_received, replies, strict=False):
        print(f"model received: {sent}\ncaller got:     {reply}\n")
    print(replies[-1])
    return replies


if __name__ == "__main__":
    main()
