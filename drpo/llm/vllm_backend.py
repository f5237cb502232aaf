"""vLLM in process: a whole batch in one engine call (needs a GPU): chat requests through
`LLM.chat` (the model's chat template), plain-text completion requests through
`LLM.generate` (no template: how base models are run).

`vllm` is imported only when the engine is first needed, so that installing and importing
this project never requires it (the optional extra ``vllm``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from drpo.llm.backend import Backend, BackendCall, BackendResult, OnResult
from drpo.llm.types import ChatRequest, LLMConfigError, LLMError


class VLLMBackend(Backend):
    """An in-process `vllm.LLM`, which applies the model's own chat template to chat
    requests and none to plain-text ones.

    `engine` and `sampling_params` let a caller (or a test) supply the engine and the
    SamplingParams class; by default they come from vllm, built on first use with
    `tensor_parallel_size`, `gpu_memory_utilization` and `engine_kwargs`.
    """

    kind = "vllm"

    def __init__(
        self,
        model: str,
        *,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        engine: Any = None,
        sampling_params: Callable[..., Any] | None = None,
        **engine_kwargs: Any,
    ) -> None:
        super().__init__(model)
        if tensor_parallel_size < 1:
            raise LLMConfigError(f"num_gpus must be >= 1, got {tensor_parallel_size}")
        if not 0.0 < gpu_memory_utilization <= 1.0:
            raise LLMConfigError(
                f"gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization}"
            )
        self.tensor_parallel_size = tensor_parallel_size
        self.gpu_memory_utilization = gpu_memory_utilization
        self.engine_kwargs = engine_kwargs
        self._engine = engine
        self._sampling_params = sampling_params
        self._lock = asyncio.Lock()

    def describe(self) -> str:
        return f"vLLM model {self.model!r} in process"

    def _ensure_engine(self) -> tuple[Any, Callable[..., Any]]:
        if self._engine is None or self._sampling_params is None:
            try:
                import vllm
            except ImportError:
                raise LLMConfigError(
                    "the vllm backend needs vllm: pip install 'prompt-search[vllm]'"
                ) from None
            if self._engine is None:
                self._engine = vllm.LLM(
                    model=self.model,
                    tensor_parallel_size=self.tensor_parallel_size,
                    gpu_memory_utilization=self.gpu_memory_utilization,
                    **self.engine_kwargs,
                )
            if self._sampling_params is None:
                self._sampling_params = vllm.SamplingParams
        return self._engine, self._sampling_params

    def _params(self, factory: Callable[..., Any], call: BackendCall) -> Any:
        request = call.request
        kwargs: dict[str, Any] = {
            "n": call.count,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "stop": list(request.stop) or None,
            "seed": call.first_sample if request.temperature > 0 else None,
        }
        if request.max_tokens is not None:
            kwargs["max_tokens"] = request.max_tokens
        if request.frequency_penalty:
            kwargs["frequency_penalty"] = request.frequency_penalty
        return factory(**kwargs)

    def has_chat_template(self) -> bool | None:
        """Whether the engine's tokenizer has a chat template (None: it cannot say)."""
        engine, _ = self._ensure_engine()
        try:
            tokenizer = engine.get_tokenizer()
        except Exception:  # an engine without a tokenizer to show: ask the model instead
            return None
        if not hasattr(tokenizer, "chat_template"):
            return None
        return tokenizer.chat_template is not None

    def generate_batch(self, calls: Sequence[BackendCall]) -> list[BackendResult]:
        """One `chat` call for the batch's chat requests and one `generate` call for its
        plain-text ones; the results in the order of `calls`."""
        engine, factory = self._ensure_engine()
        chat = [i for i, c in enumerate(calls) if isinstance(c.request, ChatRequest)]
        text = [i for i, c in enumerate(calls) if not isinstance(c.request, ChatRequest)]
        outputs: dict[int, Any] = {}
        try:
            if chat:
                conversations = [calls[i].request.openai_messages() for i in chat]
                params = [self._params(factory, calls[i]) for i in chat]
                got = engine.chat(conversations, sampling_params=params, use_tqdm=False)
                outputs.update(self._numbered(chat, got))
            if text:
                prompts = [calls[i].request.prompt for i in text]
                params = [self._params(factory, calls[i]) for i in text]
                got = engine.generate(prompts, sampling_params=params, use_tqdm=False)
                outputs.update(self._numbered(text, got))
        except LLMError:
            raise
        except Exception as exc:  # the engine's own errors: out of memory, bad template, ...
            raise LLMError(f"{self.describe()} failed: {type(exc).__name__}: {exc}") from None
        results = []
        for index, call in enumerate(calls):
            output = outputs[index]
            samples = list(output.outputs)
            if len(samples) != call.count:
                raise LLMError(
                    f"{self.describe()} returned {len(samples)} samples, expected {call.count}"
                )
            results.append(
                BackendResult(
                    texts=tuple(s.text for s in samples),
                    finish_reasons=tuple(s.finish_reason or "stop" for s in samples),
                    prompt_tokens=len(output.prompt_token_ids or ()),
                    completion_tokens=sum(len(s.token_ids or ()) for s in samples),
                )
            )
        return results

    def _numbered(self, indices: list[int], outputs: Sequence[Any]) -> dict[int, Any]:
        if len(outputs) != len(indices):
            raise LLMError(f"{self.describe()} returned {len(outputs)} outputs for {len(indices)}")
        return dict(zip(indices, outputs))

    async def agenerate(
        self, calls: Sequence[BackendCall], on_result: OnResult | None = None
    ) -> list[BackendResult | Exception]:
        async with self._lock:  # one engine, one batch at a time
            results = await asyncio.to_thread(self.generate_batch, list(calls))
        if on_result is not None:
            for index, result in enumerate(results):
                on_result(index, result)
        return list(results)
