"""The response inside a decoded prompt + response (OpenRLHF's ``query``), for every chat model.

OpenRLHF (0.11, ``openrlhf/utils/agent.py``) hands a reward ``query = decode(prompt_ids +
response_ids, skip_special_tokens=False)`` and the templated ``prompt`` string. For a
vision-language model the prompt ids come from the processor, which expands each media
placeholder of the prompt (``<|image_pad|>`` for Qwen-VL) into many tokens, so the prompt is no
longer a prefix of the query. The response is found, in this order:

1. the prompt itself in the query (a prefix, or after a BOS the prompt lacks);
2. the prompt's text pieces between media placeholders, in order: each expansion (a run of
   pads, or a wrapped run such as InternVL's ``<img><IMG_CONTEXT>...</img>``) lies between two
   pieces, and the response starts where the last piece ends;
3. the assistant header: the prompt has it ``k`` times (once for a single turn), the response
   starts after its ``k``-th occurrence in the query (and after whatever the prompt has after
   its last header, such as Qwen3's empty think block).

Where none applies the query is scored whole, with one warning per process: that is a prompt
the query does not contain and a template this module does not know (extend
``media_tokens`` / ``assistant_headers``).

Absolute imports only: the OpenRLHF adapter file that imports this is loaded by path.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence

from vrft_rewards.integrations._common import check_rows

__all__ = [
    "DEFAULT_ASSISTANT_HEADERS",
    "DEFAULT_EOS_TOKENS",
    "DEFAULT_MEDIA_TOKENS",
    "completions_from_queries",
]

_log = logging.getLogger("vrft_rewards.integrations.openrlhf")
_warned = False

#: End-of-turn / end-of-text / padding markers stripped from the end of each query, since
#: OpenRLHF decodes with ``skip_special_tokens=False`` (Qwen, Llama 3, Llama 2/Mistral, Gemma,
#: Phi-3, DeepSeek spellings).
DEFAULT_EOS_TOKENS = (
    "<|im_end|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "</s>",
    "<end_of_turn>",
    "<eos>",
    "<|end|>",
    "<pad>",
    "<\uff5cend\u2581of\u2581sentence\uff5c>",
)

#: Media placeholders of chat templates that processors expand in the tokenised prompt.
DEFAULT_MEDIA_TOKENS = (
    "<|image_pad|>",  # Qwen2-VL, Qwen2.5-VL, Qwen3-VL
    "<|video_pad|>",
    "<|audio_pad|>",
    "<|IMAGE|>",  # Qwen2.5-Omni
    "<|VIDEO|>",
    "<|AUDIO|>",
    "<image>",  # LLaVA family, Idefics / SmolVLM, DeepSeek-VL2, InternVL (chat prompts)
    "<video>",
    "<IMG_CONTEXT>",  # InternVL (HF processors)
    "<|image|>",  # Llama 4, GLM-4.1V
    "<start_of_image>",  # Gemma 3
    "<image_soft_token>",
    "[IMG]",  # Pixtral / Mistral
    "<|media_pad|>",  # Kimi-VL
)

#: Headers that open the assistant's turn in chat templates (the end of a generation prompt).
DEFAULT_ASSISTANT_HEADERS = (
    "<|im_start|>assistant\n",  # ChatML: Qwen, InternVL, Yi, ...
    "<|start_header_id|>assistant<|end_header_id|>\n\n",  # Llama 3
    "<|header_start|>assistant<|header_end|>\n\n",  # Llama 4
    "<start_of_turn>model\n",  # Gemma
    "<|assistant|>\n",  # Phi-3, GLM-4
    "<\uff5cAssistant\uff5c>",  # DeepSeek
    "[/INST]",  # Mistral
    "ASSISTANT:",  # LLaVA-1.5 (Vicuna)
)


@functools.lru_cache(maxsize=16)
def _media_runs(tokens: tuple[str, ...]) -> re.Pattern[str] | None:
    """A regex for a run of media placeholders (longest spelling first), None without any."""
    if not tokens:
        return None
    alternatives = "|".join(re.escape(t) for t in sorted(set(tokens), key=len, reverse=True))
    return re.compile(f"(?:{alternatives})+")


def _after_pieces(query: str, prompt: str, media: re.Pattern[str] | None) -> int | None:
    """Where the response starts, matching the prompt's text between its media placeholders."""
    if media is None:
        return None
    pieces = media.split(prompt)
    if len(pieces) == 1 or not pieces[-1]:
        return None  # no placeholder, or the prompt ends with one: nothing marks the expansion's end
    start = query.find(pieces[0])
    if start < 0:
        return None
    pos = start + len(pieces[0])
    for piece in pieces[1:]:
        k = query.find(piece, pos)
        if k < 0:
            return None
        pos = k + len(piece)
    return pos


def _after_header(query: str, prompt: str, headers: Sequence[str]) -> int | None:
    """Where the response starts, after the query's copy of the prompt's last assistant header."""
    best = None  # (position of the header's last occurrence in the prompt, header)
    for h in headers:
        last = prompt.rfind(h) if h else -1
        if last >= 0 and (best is None or last > best[0]):
            best = (last, h)
    if best is None:
        return None
    last, header = best
    pos = -1
    for _ in range(prompt.count(header)):
        pos = query.find(header, pos + 1)
        if pos < 0:
            return None
    pos += len(header)
    tail = prompt[last + len(header) :]  # e.g. "<think>\n\n</think>\n\n" of Qwen3 without thinking
    if tail and query.startswith(tail, pos):
        pos += len(tail)
    return pos


def _response_start(query: str, prompt: str, media: re.Pattern[str] | None, headers: Sequence[str]) -> int | None:
    if query.startswith(prompt):
        return len(prompt)
    k = query.find(prompt)
    if k >= 0:
        return k + len(prompt)
    pos = _after_pieces(query, prompt, media)
    return pos if pos is not None else _after_header(query, prompt, headers)


def _warn_uncut(prompt: str) -> None:
    global _warned
    if _warned:
        return
    _warned = True
    _log.warning(
        "vrft_rewards: cannot find where the prompt ends in an OpenRLHF query (prompt %r...): the prompt is "
        "not in the query, no known media placeholder or assistant header matched; scoring whole queries. "
        "Pass media_tokens=/assistant_headers= with your model's spellings (warned once)",
        prompt[:80],
    )


def completions_from_queries(
    queries: Sequence[str],
    prompts: Sequence[str] | None = None,
    *,
    eos_tokens: Sequence[str] = DEFAULT_EOS_TOKENS,
    media_tokens: Sequence[str] = DEFAULT_MEDIA_TOKENS,
    assistant_headers: Sequence[str] = DEFAULT_ASSISTANT_HEADERS,
) -> list[str]:
    """Recover the responses from OpenRLHF queries (prompt + response + end markers).

    Parameters
    ----------
    queries : list of str
        Prompt and response as one decoded string each.
    prompts : list of str, optional
        The templated prompts (one media placeholder per image). The response is what follows
        the prompt in the query, found as the module docs describe: the prompt itself, its
        pieces around expanded media placeholders, or its last assistant header. Where none is
        found the query is kept whole (and a warning is logged once). Without prompts, queries
        are kept whole.
    eos_tokens : sequence of str, default :data:`DEFAULT_EOS_TOKENS`
        Markers stripped (repeatedly, with the whitespace after them) from the end; whitespace
        the response itself ends with, before the first marker, is kept (as TRL's
        ``skip_special_tokens=True`` decoding keeps it).
    media_tokens : sequence of str, default :data:`DEFAULT_MEDIA_TOKENS`
        Placeholders the processor expands (``<|image_pad|>``, ``<image>``, ...).
    assistant_headers : sequence of str, default :data:`DEFAULT_ASSISTANT_HEADERS`
        Chat-template headers of the assistant's turn.

    Returns
    -------
    list of str

    Examples
    --------
    >>> completions_from_queries(["<|im_start|>user\\nQ<|im_end|>\\n<|im_start|>assistant\\nA<|im_end|>"],
    ...                          ["<|im_start|>user\\nQ<|im_end|>\\n<|im_start|>assistant\\n"])
    ['A']
    >>> prompt = "<|im_start|>user\\n<|vision_start|><|image_pad|><|vision_end|>Q<|im_end|>\\n<|im_start|>assistant\\n"
    >>> completions_from_queries([prompt.replace("<|image_pad|>", "<|image_pad|>" * 64) + "A<|im_end|>"], [prompt])
    ['A']
    """
    queries = check_rows(queries, None, "queries")
    if prompts is not None:
        prompts = check_rows(prompts, len(queries), "prompts")
    eos = _tokens(eos_tokens, "eos_tokens")
    media = _media_runs(_tokens(media_tokens, "media_tokens"))
    headers = _tokens(assistant_headers, "assistant_headers")
    out = []
    for i, q in enumerate(queries):
        if not isinstance(q, str):
            raise TypeError(f"queries[{i}] must be a str, got {type(q).__name__}")
        if prompts is not None and isinstance(prompts[i], str) and prompts[i]:
            start = _response_start(q, prompts[i], media, headers)
            if start is None:
                _warn_uncut(prompts[i])
            else:
                q = q[start:]
        while True:  # drop trailing markers and the whitespace between/after them, not the response's own
            tail = q.rstrip()
            t = next((t for t in eos if tail.endswith(t)), None)
            if t is None:
                break
            q = tail[: -len(t)]
        out.append(q)
    return out


def _tokens(tokens: Sequence[str], arg: str) -> tuple[str, ...]:
    if isinstance(tokens, str):
        raise TypeError(f"{arg} must be a sequence of str, got a single str; wrap it in a tuple")
    out = tuple(tokens)
    for t in out:
        if not isinstance(t, str):
            raise TypeError(f"{arg} must hold str, got {type(t).__name__}")
    return tuple(t for t in out if t)
