"""A tiny random Qwen2.5-VL built locally (no download), shared by the real-trainer tests.

Following shared/research/vlm_grpo_cpu.md: a byte-level BPE tokenizer without merges plus the
Qwen special tokens, a Qwen-style chat template set on the processor (one
``<|vision_start|><|image_pad|><|vision_end|>`` per image part; the processor expands the pad),
``Qwen2VLImageProcessorPil`` with tiny pixel limits (no torchvision needed), a processor subclass
that accepts ``video_processor=None``, and a 2-layer model from a config.

:func:`make_scripted_model` biases the random model's logits (a forward hook) towards a few fixed
Visual-RFT answers after the assistant header, so that a CPU run writes well-formed answers whose
rewards differ within a group; the bias depends only on the input ids, so the loss forward sees
the same policy. It needs ``generation_kwargs={"use_cache": False}``.
"""

from __future__ import annotations

import random

TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message.role + '\\n' }}"
    "{%- if message.content is string %}{{- message.content }}"
    "{%- else %}{%- for part in message.content %}"
    "{%- if part.type == 'image' or 'image' in part %}{{- '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif 'text' in part %}{{- part.text }}{%- endif %}"
    "{%- endfor %}{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

#: Visual-RFT answers the scripted model writes: the confidence digit, the number of boxes and the
#: <think> block differ, so IoU, confidence and format rewards vary within a group.
SCRIPTS = [
    "<think>one box</think><answer>[{'Position': [5, 5, 30, 30], 'Confidence': 0.%d}]</answer>" % d for d in (1, 5, 9)
] + [
    "<think>two</think><answer>[{'Position': [0, 0, 20, 20], 'Confidence': 0.8}, "
    "{'Position': [10, 10, 40, 40], 'Confidence': 0.3}]</answer>",
    "<answer>[{'Position': [5, 5, 30, 30], 'Confidence': 0.7}]</answer>",  # no <think>: format 0
]


def make_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    tok = Tokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(sorted(alphabet))}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<|endoftext|>", eos_token="<|im_end|>")
    fast.add_special_tokens({"additional_special_tokens": SPECIALS[1:]})
    fast.chat_template = TEMPLATE
    return fast


def make_processor(chat_template: str = TEMPLATE):
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessorPil

    class NoVideoProcessor(Qwen2_5_VLProcessor):
        def check_argument_for_proper_class(self, attribute_name, arg):
            if attribute_name == "video_processor" and arg is None:
                return None  # no torchvision here, hence no video processor
            return super().check_argument_for_proper_class(attribute_name, arg)

    tok = make_tokenizer()
    tok.chat_template = chat_template
    images = Qwen2VLImageProcessorPil(min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 16)
    return NoVideoProcessor(image_processor=images, tokenizer=tok, video_processor=None, chat_template=chat_template)


def _config(tok):
    from transformers import Qwen2_5_VLConfig

    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIALS}
    pad, eos = ids["<|endoftext|>"], ids["<|im_end|>"]
    text = dict(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        rope_parameters={"rope_type": "default", "rope_theta": 1e4, "mrope_section": [2, 3, 3]},
        bos_token_id=pad,
        eos_token_id=eos,
        pad_token_id=pad,
    )
    vision = dict(
        depth=2,
        hidden_size=32,
        intermediate_size=64,
        num_heads=2,
        out_hidden_size=64,
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
        window_size=56,
        fullatt_block_indexes=[1],
    )
    return Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        bos_token_id=pad,
        eos_token_id=eos,
        pad_token_id=pad,
    )


def make_scripted_model(tok, scripts=SCRIPTS, seed: int = 0, bias: float = 40.0):
    """The random Qwen2.5-VL with its logits pushed along ``scripts`` after the assistant header."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    header = tok.encode("<|im_start|>assistant\n", add_special_tokens=False)
    script_ids = [tok.encode(s, add_special_tokens=False) for s in scripts]
    eos = tok.convert_tokens_to_ids("<|im_end|>")

    def hook(module, args, kwargs, out):
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        if input_ids is None or getattr(out, "logits", None) is None:
            return out  # TRL's loss forward may return log-probs only: left as it is
        logits = out.logits
        n_keep, total = logits.shape[1], input_ids.shape[1]
        add = torch.zeros_like(logits)
        for b, seq in enumerate(input_ids.tolist()):
            start = next(
                (k + len(header) for k in range(len(seq) - len(header), -1, -1) if seq[k : k + len(header)] == header),
                None,
            )
            if start is None:
                continue
            # generate() reads only the last position's logits: bias only that one there
            for j in range(n_keep - 1 if not torch.is_grad_enabled() else 0, n_keep):
                t = total - n_keep + j  # logits[j] predicts token t + 1
                if t + 1 < start:
                    continue
                done = seq[start : t + 1]
                nxt = {s[len(done)] for s in script_ids if len(s) > len(done) and s[: len(done)] == done}
                for token in nxt or {eos}:
                    add[b, j, token] = bias
        out.logits = logits + add
        return out

    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(_config(tok))
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = model.generation_config.bos_token_id = tok.convert_tokens_to_ids(
        "<|endoftext|>"
    )
    model.register_forward_hook(hook, with_kwargs=True)
    return model


GT_BOX = "<answer>[{'Position': [%d, %d, %d, %d], 'Confidence': 1}]</answer>"


def detection_rows(n: int, seed: int = 0, size=(56, 56)) -> dict:
    """Conversational rows: an image part and a question, a PIL image, a Visual-RFT solution."""
    from PIL import Image

    rng = random.Random(seed)
    rows = {"prompt": [], "image": [], "solution": []}
    for i in range(n):
        x1, y1 = rng.randint(2, 9), rng.randint(2, 9)  # near the scripted [5, 5, 30, 30]
        x2, y2 = x1 + rng.randint(20, 30), y1 + rng.randint(20, 30)
        rows["prompt"].append(
            [
                {
                    "role": "user",
                    "content": [{"type": "image"}, {"type": "text", "text": f"Detect the objects (image {i})."}],
                }
            ]
        )
        rows["image"].append(Image.new("RGB", size, tuple(rng.randint(0, 255) for _ in range(3))))
        rows["solution"].append(GT_BOX % (x1, y1, x2, y2))
    return rows
