"""OpenRLHF's own reward client against ``vrft-rewards serve`` (environments ``openrlhf-0.11.2``
and ``openrlhf-0.11.0``, installed with ``--no-deps``: the client needs no GPU package).

What runs is OpenRLHF's code: ``preprocess_data`` builds the prompt with the chat template (one
``<|image_pad|>`` per image), ``SingleTurnAgentExecutor.execute`` tokenises it with the processor
(which expands the pad), decodes prompt + response with ``skip_special_tokens=False`` into the
query and fetches the reward over HTTP (``_fetch_rewards_via_http``, one and two URLs) or from the
``reward_func`` of a ``.py`` file. Only the vLLM engine is a stand-in that returns the response's
token ids. The server and the file are docs/integrations.md's recipes.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
import types
import urllib.request
import warnings

import numpy as np
import pytest

import _tiny_vlm
from _recipes import arguments, recipe
from vrft_rewards.integrations.openrlhf import make_reward_func

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    openrlhf = pytest.importorskip("openrlhf")
    from openrlhf.datasets.prompts_dataset import preprocess_data
    from openrlhf.utils.agent import SingleTurnAgentExecutor
    from PIL import Image

pytestmark = [
    pytest.mark.trainers,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

GT = "<answer>[{'Position': [5, 5, 30, 30], 'Confidence': 1}]</answer>"
RESPONSE = "<think>one box</think><answer>[{'Position': [5, 5, 30, 30], 'Confidence': 0.9}]</answer>"


def _version():
    from importlib.metadata import version

    return tuple(int(x) for x in re.findall(r"\d+", version("openrlhf"))[:3])


class Engine:
    """Stands in for OpenRLHF's vLLM engine: generates RESPONSE's tokens and an eos."""

    def __init__(self, tok):
        self.ids = tok.encode(RESPONSE, add_special_tokens=False) + [tok.eos_token_id]
        self.prompt_token_ids = None

    async def generate(self, prompt_token_ids, params, multi_modal_data=None):
        self.prompt_token_ids = list(prompt_token_ids)
        out = types.SimpleNamespace(token_ids=self.ids, finish_reason="stop", logprobs=None)
        return types.SimpleNamespace(outputs=[out])


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_command(port):
    words = arguments("openrlhf")
    words = words[words.index("vrft-rewards") + 1 : words.index("&")]  # the recipe's server line
    words[words.index("--port") + 1] = str(port)
    return [sys.executable, "-m", "vrft_rewards", *words, "--log-level", "DEBUG"]


@pytest.fixture(scope="module")
def servers(package_path_env):
    procs, urls = [], []
    words = arguments("openrlhf")
    url_template = words[words.index("--reward.remote_url") + 1]  # the recipe's URL, on a free port
    for _ in range(2):
        port = _free_port()
        proc = subprocess.Popen(
            _serve_command(port), env=package_path_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        url = url_template.replace(":8000/", f":{port}/")
        for _ in range(300):
            try:
                urllib.request.urlopen(url.replace("/get_reward", "/health"), timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            proc.kill()
            pytest.fail("vrft-rewards serve did not start: " + proc.communicate()[1])
        procs.append(proc)
        urls.append(url)
    yield urls, procs
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stderr.close()


@pytest.fixture(scope="module")
def package_path_env():
    import vrft_rewards

    parent = os.path.dirname(os.path.dirname(os.path.abspath(vrft_rewards.__file__)))
    return dict(os.environ, PYTHONPATH=os.pathsep.join([parent, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))


@pytest.fixture(scope="module")
def processor():
    return _tiny_vlm.make_processor()


@pytest.fixture(scope="module")
def prompts(processor):
    vlm, _ = preprocess_data(
        {"input": "<image>Detect the objects.", "label": GT},
        input_key="input",
        label_key="label",
        apply_chat_template=processor.apply_chat_template,
    )
    text, _ = preprocess_data(
        {"input": "Detect the objects.", "label": GT},
        input_key="input",
        label_key="label",
        apply_chat_template=processor.tokenizer.apply_chat_template,
    )
    assert vlm.count("<|image_pad|>") == 1
    return {"vlm": vlm, "text": text}


def _execute(url_or_executor, tokenizer_or_processor, prompt, images):
    tok = getattr(tokenizer_or_processor, "tokenizer", tokenizer_or_processor)
    engine = Engine(tok)
    executor = url_or_executor
    if not isinstance(executor, SingleTurnAgentExecutor):
        executor = SingleTurnAgentExecutor(remote_rm_url=url_or_executor)
    params = types.SimpleNamespace(max_tokens=128, logprobs=None)
    out = asyncio.run(executor.execute(prompt, GT, params, 8192, tokenizer_or_processor, engine, images=images))
    return out, engine.prompt_token_ids.count(tok.convert_tokens_to_ids("<|image_pad|>"))


def _want():
    direct = make_reward_func("detection", as_tensors=False)([RESPONSE], None, [GT])
    return direct["rewards"][0], {k: v[0] for k, v in direct["extra_logs"].items()}


def _value(x):
    return None if x is None else float(np.asarray(x, dtype=np.float64).reshape(-1)[0])


def _requests(proc_stderr_lines):
    return sum("POST /get_reward" in line for line in proc_stderr_lines)


@pytest.mark.parametrize("n_urls", [1, 2])
@pytest.mark.parametrize("kind", ["text", "vlm"])
def test_http_reward_equals_a_direct_call(servers, processor, prompts, kind, n_urls):
    urls, _ = servers
    image = Image.new("RGB", (56, 84), (200, 10, 10))
    want_reward, want_logs = _want()
    for _ in range(3):  # 0.11.2 sends each call to the next URL in turn
        out, pads = _execute(
            urls[:n_urls],
            processor if kind == "vlm" else processor.tokenizer,
            prompts[kind],
            [image] if kind == "vlm" else None,
        )
        if kind == "vlm":
            assert pads > 1  # the processor expanded the prompt's one <|image_pad|>: not a prefix of the query
        assert _value(out["reward"]) == pytest.approx(want_reward, rel=1e-6)  # before the fix: 1.9 for a VLM (format 0)
        assert {k: _value(v) for k, v in out["extra_logs"].items()} == pytest.approx(want_logs, rel=1e-6)


def test_reward_file_from_the_recipe(tmp_path, processor, prompts):
    path = tmp_path / "my_reward.py"
    path.write_text(recipe("openrlhf-file"))
    image = Image.new("RGB", (56, 84), (200, 10, 10))
    out, pads = _execute(str(path), processor, prompts["vlm"], [image])
    assert pads > 1
    want_reward, want_logs = _want()
    assert _value(out["reward"]) == pytest.approx(want_reward, rel=1e-6)
    assert {k: _value(v) for k, v in out["extra_logs"].items()} == pytest.approx(want_logs, rel=1e-6)


def test_two_urls_share_or_split_the_calls(servers, processor, prompts):
    # 0.11.2 rotates the URLs per call: both servers score; 0.11.0 splits each call over the URLs:
    # the second gets an empty batch, which must be answered (200, empty lists), not refused.
    urls, procs = servers
    before = [_requests_seen(p) for p in procs]
    executor = SingleTurnAgentExecutor(remote_rm_url=urls)
    for _ in range(4):
        out, _ = _execute(executor, processor.tokenizer, prompts["text"], None)
        assert out["reward"] is not None
    seen = [after - b for after, b in zip((_requests_seen(p) for p in procs), before)]
    assert seen[0] > 0 and seen[1] > 0, seen


_LINES: dict[int, list[str]] = {}


def _requests_seen(proc):
    """POST /get_reward lines the server logged so far (its stderr read without blocking)."""
    import fcntl

    fd = proc.stderr.fileno()
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
    time.sleep(0.2)
    try:
        chunk = proc.stderr.read() or ""
    except (BlockingIOError, TypeError):
        chunk = ""
    _LINES.setdefault(proc.pid, []).extend(chunk.splitlines())
    return _requests(_LINES[proc.pid])


def test_the_version_under_test():
    assert _version() in ((0, 11, 0), (0, 11, 2))
