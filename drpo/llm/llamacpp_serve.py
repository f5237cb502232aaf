"""The child process that runs llama.cpp's own HTTP server (from the `xllamacpp` wheel).

``python -m drpo.llm.llamacpp_serve --model PATH.gguf --port P --slots N --threads T
--ctx_per_slot C [--poll L]`` loads the model, serves the OpenAI API on 127.0.0.1:P, and
runs until its stdin closes: the parent holds that pipe, so the server ends with the run
however the run ends (even by SIGKILL). The parent knows it is ready when /health answers.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drpo.llm.llamacpp_serve")
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--slots", type=int, required=True, help="requests decoded at once")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--ctx_per_slot", type=int, required=True, help="context tokens a slot")
    parser.add_argument("--poll", type=int, default=None,
                        help="0-100: how long idle threads busy-wait for work before they "
                        "sleep (default: llama.cpp's own, 50)")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        import xllamacpp as xlc
    except ImportError:
        print("the llamacpp backend needs xllamacpp: pip install -e '.[local]'", file=sys.stderr)
        return 2
    params = xlc.CommonParams()
    params.model.path = args.model
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.n_parallel = args.slots
    params.n_ctx = args.ctx_per_slot * args.slots
    params.cont_batching = True
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    if args.poll is not None:
        params.cpuparams.poll = args.poll
        params.cpuparams_batch.poll = args.poll
    try:
        server = xlc.Server(params)
    except Exception as exc:  # the model did not load: say why, in one line
        print(f"llama.cpp could not start on {args.model}: {exc}", file=sys.stderr)
        return 1
    with contextlib.suppress(KeyboardInterrupt):
        sys.stdin.read()  # until the parent closes the pipe (or dies)
    del server
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
