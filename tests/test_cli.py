"""The vrft-rewards command: help, one-line user errors (exit 2), and a real `serve` process."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import urllib.request

import pytest

import vrft_rewards
from vrft_rewards import cli
from vrft_rewards.cli import main

TESTS = pathlib.Path(__file__).resolve().parent
# Where the vrft_rewards under test lives (the checkout with an in-place build, or site-packages
# after `pip install .`): child processes must import that one, not a checkout without _C.
ROOT = pathlib.Path(vrft_rewards.__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["--help"], ["serve", "COMMAND"]),
        (["serve", "--help"], ["--task", "--host", "--port", "--max-body-bytes", "--option", "/get_reward"]),
    ],
)
def test_help_exits_zero(capsys, argv, needles):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
    out = capsys.readouterr().out
    for needle in needles:
        assert needle in out


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("vrft-rewards ")


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["serve"], "the following arguments are required: --task"),
        (["serve", "--task", "x", "--port", "http"], "port must be an integer, got 'http'"),
        (["serve", "--task", "x", "--port", "70000"], r"port must be in 0\.\.65535"),
        (["serve", "--task", "x", "--max-body-bytes", "0"], "must be >= 1"),
        (["bogus"], "invalid choice: 'bogus'"),
    ],
)
def test_argument_errors_are_one_line_exit_2(capsys, argv, match, one_line_error):
    import re

    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert re.search(match, one_line_error(capsys.readouterr().err))


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["serve", "--task", "no-such-task", "--port", "0"], "task must name a known preset"),
        (["serve", "--task", "no_such_module_q:x", "--port", "0"], "cannot import module"),
        (["serve", "--task", "_toy_rewards:TOY_SET", "--option", "novalue"], "--option must look like KEY=VALUE"),
        (["serve", "--task", "_toy_rewards:TOY_SET", "--option", "a=1", "--option", "a=2"], "given twice"),
        (["serve", "--task", "_toy_rewards:TOY_SET", "--option", "a=1"], "do not apply to an import path"),
    ],
)
def test_user_mistakes_are_one_line_exit_2(capsys, argv, match, one_line_error):
    assert main(argv) == 2
    line = one_line_error(capsys.readouterr().err)
    assert line.startswith("vrft-rewards: error: ") and match in line


def test_port_in_use_is_one_line_exit_2(capsys, one_line_error):
    from vrft_rewards.serve import make_server

    with make_server("_toy_rewards:TOY_SET", port=0) as srv:
        port = str(srv.server_address[1])
        assert main(["serve", "--task", "_toy_rewards:TOY_SET", "--port", port]) == 2
    assert "Address already in use" in one_line_error(capsys.readouterr().err)


def test_options_are_parsed_as_json_or_text():
    assert cli._parse_options(["a=1", "b=norm1000", 'c={"x": [1, 2]}', "d=", "e=true"]) == {
        "a": 1,
        "b": "norm1000",
        "c": {"x": [1, 2]},
        "d": "",
        "e": True,
    }


def test_each_command_is_an_add_and_run_pair():
    assert (cli._add_serve_parser, cli._run_serve) in cli._COMMANDS
    parser = cli.build_parser()
    args = parser.parse_args(["serve", "--task", "t"])
    assert args._run is cli._run_serve and args.port == 8000 and args.host == "127.0.0.1"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_process_answers_then_stops_gracefully_on_signal(sig):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(TESTS), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vrft_rewards",
            "serve",
            "--task",
            "_toy_rewards:TOY_SET",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=str(TESTS),
    )
    try:
        line = proc.stderr.readline()
        assert "serving _toy_rewards:TOY_SET at http://127.0.0.1:" in line, line
        url = line.split(" at ", 1)[1].split()[0]
        health = json.load(urllib.request.urlopen(url + "/health", timeout=30))
        assert health["status"] == "ok" and health["names"] == ["char_overlap", "length_score", "prefix_reward"]
        req = urllib.request.Request(
            url + "/score", data=json.dumps({"completions": ["ab"], "solution": ["a"]}).encode()
        )
        assert json.load(urllib.request.urlopen(req, timeout=30))["rewards"]["prefix_reward"] == [1.0]
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
