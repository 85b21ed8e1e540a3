"""Guard an OpenAI-style client method: ``client.chat.completions.create`` with chat messages.

The client is the real ``openai`` SDK. To run without any server, it talks to an in-process echo upstream
through ``httpx.MockTransport``; point ``base_url`` at any OpenAI-compatible endpoint to use a real one.

Run: ``python examples/openai_client.py``
"""

from __future__ import annotations

import json

import httpx
import openai

from guards import Guard


def echo_upstream(request: httpx.Request) -> httpx.Response:
    """A stand-in upstream that answers with the last user message it received."""
    body = json.loads(request.content)
    said = body["messages"][-1]["content"]
    message = {"role": "assistant", "content": f"You wrote: {said}"}
    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-echo",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        },
    )


def main(base_url: str = "http://upstream.invalid/v1") -> str:
    """Send one guarded chat completion and return the answer the caller sees."""
    client = openai.OpenAI(
        base_url=base_url, api_key="not-needed", http_client=httpx.Client(transport=httpx.MockTransport(echo_upstream))
    )
    guard = Guard.from_policy("default", application="examples", model="echo")
    create = guard.wrap(client.chat.completions.create)
    completion = create(
        model="echo",
        messages=[{"role": "user", "content": "My name is Jane Doe and my phone is +1 415 555 0100."}],
    )
    answer = completion.choices[0].message.content or ""
    print(answer)
    return answer


if __name__ == "__main__":
    main()
