#!/usr/bin/env python3
"""Does OpenAI's own Python client work against `scalpel serve`? The official `openai` package (PyPI)
talks to a running server and checks:
  - models.list names the model (and its knobs);
  - chat.completions.create, whole and streamed (stream=True: the deltas joined equal the whole text
    at temperature 0, and stream_options include_usage gives the same usage);
  - completions.create, whole and streamed, likewise;
  - a knob through extra_body={"scalpel": {"knobs": {NAME: STRENGTH}}}: the response's `scalpel`
    field (response.model_extra) echoes it and the tokens change; "compare": true returns the
    steered completion and the unsteered one, equal to the two requests made alone (read both
    through model_extra and through with_raw_response);
  - refusals arrive as the client's exceptions with the field named: openai.BadRequestError for an
    unknown knob, max_tokens too large, an unimplemented field, compare with stream;
    openai.NotFoundError for another model; openai.AuthenticationError for a wrong or missing key
    (when the server has one); openai.RateLimitError with Retry-After when the queue is full (with
    --start, or --rate-limit-probe N against a server of yours);
  - with --start, SIGTERM stops the server and it exits 0.
It also tries what OpenAI's API takes and common clients send beyond that (models.retrieve,
max_completion_tokens, content parts, neutral values, a list prompt, an error body on an unknown route):
a refusal there prints a `gap` line, a failure only with --strict.

A developer's check, not part of the test suite. Install the client in a virtual environment:
    python3 -m venv /tmp/openai-venv && /tmp/openai-venv/bin/pip install openai
Then, after `swift build -c release`, either let it start (and stop) a server itself:
    /tmp/openai-venv/bin/python tools/check_openai_client.py --start [--model smollm2] [--knobs F ...]
(without --knobs it makes one with `scalpel knob create --from runs/sentiment-smollm2 --name sentiment
--top 50`), or point it at one you started:
    /tmp/openai-venv/bin/python tools/check_openai_client.py --base-url http://127.0.0.1:PORT/v1 [--api-key KEY]

Prints one line per check (ok / FAIL / skip) and exits 1 when any check failed, 2 when it could not
run at all.
"""
import argparse
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

try:
    import openai
except ImportError:
    sys.exit("check_openai_client: the `openai` package is missing. Install it in a virtual environment:\n"
             "    python3 -m venv /tmp/openai-venv && /tmp/openai-venv/bin/pip install openai\n"
             "and run this script with /tmp/openai-venv/bin/python.")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHAT = [{"role": "user", "content": "Write one sentence about the movie you saw last night."}]
PROMPT = "The movie was"

failures = []


gaps = []


def report(name, ok, detail=""):
    status = {True: "ok  ", None: "skip", False: "FAIL", "gap": "gap "}[ok]
    print(f"{status} {name}" + (f": {detail}" if detail else ""), flush=True)
    if ok is False:
        failures.append(name)
    if ok == "gap":
        gaps.append(name)


def check(name):
    """Runs the decorated function as one check: it returns a detail string, or raises to fail."""
    def run(function):
        try:
            detail = function()
            report(name, True, detail or "")
        except Skip as skip:
            report(name, None, str(skip))
        except Gap as gap:
            report(name, False if STRICT else "gap", str(gap))
        except AssertionError as error:
            report(name, False, str(error))
        except Exception as error:  # an unexpected exception from the client is a failure too
            report(name, False, f"{type(error).__name__}: {error}")
            if os.environ.get("CHECK_OPENAI_TRACE"):
                traceback.print_exc()
        return function
    return run


class Skip(Exception):
    pass


class Gap(Exception):
    """Something OpenAI's API has that the server does not do: reported, a failure only with --strict."""


STRICT = False


def compat(call):
    """Runs a call that OpenAI's API answers; a refusal is a gap (the status and message say which)."""
    try:
        return call()
    except openai.APIStatusError as error:
        message = error.body.get("message") if isinstance(error.body, dict) else error.body
        raise Gap(f"HTTP {error.status_code} {type(error).__name__}: {message or '(empty body)'}")


def expect_error(kind, call, param=None, status=None):
    """Calls `call`, which must raise `kind` (an openai exception); returns it after checking the
    param named and the status."""
    try:
        call()
    except kind as error:
        if status is not None:
            assert error.status_code == status, f"status {error.status_code}, expected {status}"
        if param is not None:
            assert error.param == param, f"param {error.param!r}, expected {param!r} (body: {error.body})"
        return error
    except openai.APIStatusError as error:
        raise AssertionError(f"{type(error).__name__} (HTTP {error.status_code}: {error.body}), "
                             f"expected {kind.__name__}")
    raise AssertionError(f"no error, expected {kind.__name__}")


class Server:
    """`scalpel serve --port 0` started here, stopped with SIGTERM."""

    def __init__(self, args, work):
        self.log_path = os.path.join(work, "serve.log")
        self.key = secrets.token_hex(16)
        key_file = os.path.join(work, "api-key")
        with open(key_file, "w") as f:
            f.write(self.key + "\n")
        command = [args.scalpel, "serve", "--model", args.model, "--port", "0", "--queue", str(args.queue),
                   "--api-key-file", key_file]
        if args.knobs:
            command += ["--knobs", *args.knobs]
        print("starting: " + " ".join(command), flush=True)
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=self.log,
                                        stderr=subprocess.STDOUT)
        deadline = time.time() + args.start_timeout
        self.port = None
        while time.time() < deadline and self.port is None:
            if self.process.poll() is not None:
                raise RuntimeError(f"scalpel serve exited with {self.process.returncode}:\n{self.text()}")
            for line in self.text().splitlines():
                if "listening on http://" in line:
                    self.port = int(line.split("listening on http://")[1].split()[0].rsplit(":", 1)[1])
            time.sleep(0.1)
        if self.port is None:
            self.stop()
            raise RuntimeError(f"scalpel serve did not say where it listens within {args.start_timeout} s:\n"
                               f"{self.text()}")
        print(f"started: port {self.port}, pid {self.process.pid}", flush=True)

    def text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self, timeout=90):
        """SIGTERM, then the exit code (None if it had to be killed)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                return None
        self.log.close()
        return self.process.returncode


def make_knob(args, work):
    run = os.path.join(ROOT, "runs", "sentiment-smollm2")
    if not os.path.isdir(run):
        raise RuntimeError(f"--start without --knobs makes a knob from {run}, which is missing; pass --knobs")
    out = os.path.join(work, "sentiment.json")
    subprocess.run([args.scalpel, "knob", "create", "--from", run, "--name", "sentiment", "--top", "50",
                    "--out", out], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    print(f"made knob: {out} (sentiment, top 50 of {os.path.relpath(run, ROOT)})", flush=True)
    return [out]


def checks(client, base_url, key, args, server_has_key):
    """Every check against one server."""
    state = {}

    @check("models.list")
    def _():
        models = client.models.list()
        ids = [m.id for m in models.data]
        assert len(ids) == 1, f"{len(ids)} models, expected the one served: {ids}"
        model = models.data[0]
        assert model.object == "model", f"object {model.object!r}"
        state["model"] = model.id
        state["knobs"] = (model.model_extra or {}).get("knobs") or []
        return f"{model.id}, knobs {state['knobs']}"

    model = state.get("model", args.model)
    knob = args.knob or (state.get("knobs") or [None])[0]
    max_tokens = args.max_tokens

    def chat(**extra):
        return client.chat.completions.create(model=model, messages=CHAT, max_tokens=max_tokens, temperature=0,
                                              seed=1, **extra)

    def text_completion(**extra):
        return client.completions.create(model=model, prompt=PROMPT, max_tokens=max_tokens, temperature=0,
                                         seed=1, **extra)

    @check("chat.completions.create")
    def _():
        r = chat()
        assert r.object == "chat.completion", f"object {r.object!r}"
        choice = r.choices[0]
        assert choice.message.role == "assistant", f"role {choice.message.role!r}"
        assert choice.message.content, "empty content"
        assert choice.finish_reason in ("stop", "length"), f"finish_reason {choice.finish_reason!r}"
        ids = (r.model_extra or {}).get("scalpel", {}).get("ids")
        assert r.usage.completion_tokens == len(ids), f"usage {r.usage.completion_tokens} vs {len(ids)} ids"
        assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens, "usage does not add up"
        state["chat"] = r
        return f"{choice.message.content!r} ({choice.finish_reason}, {r.usage.completion_tokens} tokens)"

    @check("chat.completions.create stream=True")
    def _():
        if "chat" not in state:
            raise Skip("no whole completion to compare with")
        deltas, finishes, roles, chunks = [], [], [], 0
        for chunk in chat(stream=True):
            chunks += 1
            assert chunk.object == "chat.completion.chunk", f"object {chunk.object!r}"
            for choice in chunk.choices:
                if choice.delta.role:
                    roles.append(choice.delta.role)
                if choice.delta.content:
                    deltas.append(choice.delta.content)
                if choice.finish_reason:
                    finishes.append(choice.finish_reason)
        whole = state["chat"].choices[0]
        text = "".join(deltas)
        assert text == whole.message.content, f"streamed {text!r} != whole {whole.message.content!r}"
        assert finishes == [whole.finish_reason], f"finish reasons {finishes}, expected [{whole.finish_reason!r}]"
        assert roles == ["assistant"], f"roles {roles}"
        return f"{chunks} chunks, the deltas joined equal the whole text"

    @check("chat.completions.create stream=True include_usage")
    def _():
        if "chat" not in state:
            raise Skip("no whole completion to compare with")
        usage = None
        for chunk in chat(stream=True, stream_options={"include_usage": True}):
            if chunk.usage is not None:
                assert not chunk.choices, "the usage chunk has choices"
                usage = chunk.usage
        assert usage is not None, "no usage chunk"
        expected = state["chat"].usage
        assert (usage.prompt_tokens, usage.completion_tokens) == (expected.prompt_tokens, expected.completion_tokens), \
            f"streamed usage {usage}, whole {expected}"
        return f"prompt {usage.prompt_tokens}, completion {usage.completion_tokens}"

    @check("completions.create")
    def _():
        r = text_completion()
        assert r.object == "text_completion", f"object {r.object!r}"
        choice = r.choices[0]
        assert choice.text, "empty text"
        assert choice.finish_reason in ("stop", "length"), f"finish_reason {choice.finish_reason!r}"
        assert r.usage.completion_tokens == len(r.model_extra["scalpel"]["ids"]), "usage vs ids"
        state["completion"] = r
        return f"{PROMPT!r} → {choice.text!r} ({choice.finish_reason}, {r.usage.completion_tokens} tokens)"

    @check("completions.create stream=True")
    def _():
        if "completion" not in state:
            raise Skip("no whole completion to compare with")
        pieces, finishes = [], []
        for chunk in text_completion(stream=True):
            for choice in chunk.choices:
                pieces.append(choice.text or "")
                if choice.finish_reason:
                    finishes.append(choice.finish_reason)
        whole = state["completion"].choices[0]
        assert "".join(pieces) == whole.text, f"streamed {''.join(pieces)!r} != whole {whole.text!r}"
        assert finishes == [whole.finish_reason], f"finish reasons {finishes}"
        return f"{len(pieces)} chunks, equal to the whole text"

    @check(f"knob via extra_body (scalpel.knobs {{{knob}: {args.knob_strength}}})")
    def _():
        if not knob:
            raise AssertionError("the server has no knob (start it with --knobs, or pass --knob)")
        r = chat(extra_body={"scalpel": {"knobs": {knob: args.knob_strength}}})
        scalpel = (r.model_extra or {}).get("scalpel")
        assert scalpel is not None, "no `scalpel` field in the response"
        assert scalpel.get("knobs") == {knob: args.knob_strength}, f"scalpel.knobs {scalpel.get('knobs')}"
        state["steered"] = r
        if "chat" in state:
            plain = state["chat"]
            assert scalpel["ids"] != plain.model_extra["scalpel"]["ids"], \
                f"the knob changed no token at strength {args.knob_strength} (try --knob-strength)"
        return f"{r.choices[0].message.content!r}"

    @check("compare via extra_body (model_extra)")
    def _():
        if not knob or "steered" not in state or "chat" not in state:
            raise Skip("needs the knob check and the whole chat completion")
        r = chat(extra_body={"scalpel": {"knobs": {knob: args.knob_strength}, "compare": True}})
        scalpel = r.model_extra["scalpel"]
        unsteered = scalpel.get("unsteered")
        assert unsteered is not None, f"no scalpel.unsteered: {scalpel}"
        assert r.choices[0].message.content == state["steered"].choices[0].message.content, \
            "the steered text differs from the knob's request alone"
        assert scalpel["ids"] == state["steered"].model_extra["scalpel"]["ids"], "steered ids differ"
        plain = state["chat"]
        assert unsteered["text"] == plain.choices[0].message.content, \
            f"unsteered {unsteered['text']!r} != the plain request's {plain.choices[0].message.content!r}"
        assert unsteered["ids"] == plain.model_extra["scalpel"]["ids"], "unsteered ids differ"
        assert unsteered["finish_reason"] == plain.choices[0].finish_reason, "unsteered finish_reason differs"
        return "steered = the knob alone, unsteered = no knob"

    @check("compare via with_raw_response")
    def _():
        if not knob:
            raise Skip("no knob")
        raw = client.completions.with_raw_response.create(
            model=model, prompt=PROMPT, max_tokens=max_tokens, temperature=0, seed=1,
            extra_body={"scalpel": {"knobs": {knob: args.knob_strength}, "compare": True}})
        assert raw.status_code == 200, f"status {raw.status_code}"
        body = raw.http_response.json()
        parsed = raw.parse()
        assert body["scalpel"]["unsteered"]["text"] == state["completion"].choices[0].text, \
            "the unsteered text differs from the plain completion"
        assert parsed.choices[0].text == body["choices"][0]["text"], "parse() and the raw JSON disagree"
        return f"steered {parsed.choices[0].text!r}, unsteered {body['scalpel']['unsteered']['text']!r}"

    @check("BadRequestError: unknown knob")
    def _():
        e = expect_error(openai.BadRequestError,
                         lambda: chat(extra_body={"scalpel": {"knobs": {"no-such-knob": 1}}}),
                         param="scalpel.knobs", status=400)
        assert "no-such-knob" in e.message, f"the message does not name the knob: {e.message}"
        return f"param {e.param}: {e.body.get('message') if isinstance(e.body, dict) else e.body}"

    @check("BadRequestError: max_tokens too large")
    def _():
        e = expect_error(openai.BadRequestError,
                         lambda: client.chat.completions.create(model=model, messages=CHAT, max_tokens=10 ** 7),
                         param="max_tokens", status=400)
        return f"param {e.param}: {e.body.get('message')}"

    @check("BadRequestError: a prompt that fills the context")
    def _():
        long = PROMPT + " and so on," * 3000  # about 12,000 tokens, past SmolLM2's 8,192
        e = expect_error(openai.BadRequestError,
                         lambda: client.completions.create(model=model, prompt=long, max_tokens=max_tokens),
                         param="prompt", status=400)
        return f"param {e.param}: {e.body.get('message')}"

    @check("BadRequestError: max_tokens beyond the context")
    def _():
        long = PROMPT + " and so on," * 2000  # about 8,000 tokens: room for a few, not for 1,000
        e = expect_error(openai.BadRequestError,
                         lambda: client.completions.create(model=model, prompt=long, max_tokens=1000),
                         param="max_tokens", status=400)
        return f"param {e.param}: {e.body.get('message')}"

    @check("BadRequestError: an unimplemented field (logprobs=True)")
    def _():
        e = expect_error(openai.BadRequestError, lambda: chat(logprobs=True), param="logprobs", status=400)
        return f"param {e.param}: {e.body.get('message')}"

    @check("BadRequestError: compare with stream=True")
    def _():
        if not knob:
            raise Skip("no knob")
        e = expect_error(openai.BadRequestError,
                         lambda: chat(stream=True, extra_body={"scalpel": {"compare": True}}),
                         param="scalpel.compare", status=400)
        return f"param {e.param}: {e.body.get('message')}"

    @check("NotFoundError: another model")
    def _():
        e = expect_error(openai.NotFoundError,
                         lambda: client.chat.completions.create(model="no-such-model", messages=CHAT, max_tokens=4),
                         param="model", status=404)
        return f"param {e.param}: {e.body.get('message')}"

    @check("AuthenticationError: wrong key")
    def _():
        if not server_has_key:
            raise Skip("the server has no key here (pass --api-key for a server started with --api-key-file)")
        wrong = openai.OpenAI(base_url=base_url, api_key="wrong-" + key, max_retries=0, timeout=args.timeout)
        e = expect_error(openai.AuthenticationError, lambda: wrong.models.list(), status=401)
        expect_error(openai.AuthenticationError,
                     lambda: wrong.chat.completions.create(model=model, messages=CHAT, max_tokens=4), status=401)
        health = base_url.rstrip("/").removesuffix("/v1") + "/health"
        with urllib.request.urlopen(health, timeout=args.timeout) as answer:
            assert answer.status == 200, f"/health without a key: {answer.status}"
        return f"{e.body.get('message')} (/health needs none)"

    @check("AuthenticationError: no key")
    def _():
        if not server_has_key:
            raise Skip("the server has no key here")
        # The client will not start without a key: omit its Authorization header instead.
        no_header = {"Authorization": getattr(openai, "omit", None) or openai.Omit()}
        expect_error(openai.AuthenticationError, lambda: client.models.list(extra_headers=no_header), status=401)
        expect_error(openai.AuthenticationError,
                     lambda: client.completions.create(model=model, prompt=PROMPT, max_tokens=4,
                                                       extra_headers=no_header), status=401)
        return "401 without an Authorization header"

    # What OpenAI's API takes and clients send beyond the basics above: a refusal is a gap, not a failure.
    @check("compat: models.retrieve (GET /v1/models/{id})")
    def _():
        m = compat(lambda: client.models.retrieve(model))
        assert m.id == model, f"id {m.id!r}"

    @check("compat: max_completion_tokens (chat's current name for max_tokens)")
    def _():
        r = compat(lambda: client.chat.completions.create(model=model, messages=CHAT, max_completion_tokens=4,
                                                          temperature=0))
        assert r.usage.completion_tokens <= 4, f"{r.usage.completion_tokens} tokens"

    @check("compat: content as a list of text parts")
    def _():
        parts = [{"role": "user", "content": [{"type": "text", "text": CHAT[0]["content"]}]}]
        r = compat(lambda: client.chat.completions.create(model=model, messages=parts, max_tokens=4, temperature=0))
        assert r.choices[0].message.content is not None

    @check("compat: neutral values (response_format text, tool_choice none, store false)")
    def _():
        refused = []
        for extra in ({"response_format": {"type": "text"}}, {"tool_choice": "none"}, {"store": False}):
            try:
                client.chat.completions.create(model=model, messages=CHAT, max_tokens=2, **extra)
            except openai.BadRequestError as error:
                refused.append(f"{error.param or list(extra)[0]} ({error.body.get('message')})")
        if refused:
            raise Gap("refused: " + "; ".join(refused))

    @check("compat: prompt as a list of one string")
    def _():
        compat(lambda: client.completions.create(model=model, prompt=[PROMPT], max_tokens=2))

    @check("compat: an unknown route answers an error in OpenAI's shape")
    def _():
        try:
            client.embeddings.create(model=model, input="x")
        except openai.NotFoundError as error:
            if not isinstance(error.body, dict) or not error.body.get("message"):
                raise Gap(f"HTTP 404 with no error body ({error.body!r})")
            return f"404: {error.body.get('message')}"
        except openai.APIStatusError as error:
            return f"HTTP {error.status_code}: {error.body}"
        raise AssertionError("POST /v1/embeddings answered 200")

    @check("RateLimitError: a full queue")
    def _():
        if not args.rate_limit_probe:
            raise Skip("pass --rate-limit-probe N (more than the server's --queue + 1), or use --start")
        streams = []
        try:
            for i in range(args.rate_limit_probe):
                try:
                    raw = client.chat.completions.with_raw_response.create(
                        model=model, messages=CHAT, max_tokens=args.probe_tokens, stream=True)
                except openai.RateLimitError as e:
                    retry = e.response.headers.get("retry-after")
                    assert retry is not None, "no Retry-After header"
                    assert int(retry) >= 1, f"Retry-After {retry!r}"
                    return f"after {i} streams open: HTTP 429, Retry-After {retry}, {e.body.get('message')}"
                stream = raw.parse()
                streams.append(stream)
                next(iter(stream))  # admitted: its first chunk arrived
            raise AssertionError(f"{args.rate_limit_probe} streams open and no 429")
        finally:
            for stream in streams:
                stream.close()

    return state


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--base-url", help="a running server, e.g. http://127.0.0.1:8080/v1")
    where.add_argument("--start", action="store_true",
                       help="start `scalpel serve --port 0` here (with a random API key) and stop it at the end")
    ap.add_argument("--api-key", help="the server's key, if it has one")
    ap.add_argument("--scalpel", default=os.environ.get("SCALPEL", os.path.join(ROOT, ".build/release/scalpel")))
    ap.add_argument("--model", default="smollm2", help="with --start: the checkpoint or alias (default smollm2)")
    ap.add_argument("--knobs", nargs="+", help="with --start: knob files (default: one made from "
                                                "runs/sentiment-smollm2)")
    ap.add_argument("--queue", type=int, default=1, help="with --start: the server's --queue (default 1)")
    ap.add_argument("--knob", help="the knob to turn (default: the server's first)")
    ap.add_argument("--knob-strength", type=float, default=3.0, help="its strength (default 3)")
    ap.add_argument("--max-tokens", type=int, default=24, help="max_tokens of the checks' requests (default 24)")
    ap.add_argument("--rate-limit-probe", type=int, default=0,
                    help="open up to N streams at once expecting a 429 (default: --queue + 3 with --start, else off)")
    ap.add_argument("--probe-tokens", type=int, default=256, help="max_tokens of each probe stream")
    ap.add_argument("--timeout", type=float, default=120, help="the client's timeout per request, in seconds")
    ap.add_argument("--start-timeout", type=float, default=120)
    ap.add_argument("--strict", action="store_true", help="count the compat gaps as failures")
    args = ap.parse_args()
    global STRICT
    STRICT = args.strict
    print(f"openai {openai.__version__}, python {sys.version.split()[0]}", flush=True)

    server = None
    with tempfile.TemporaryDirectory(prefix="check-openai-") as work:
        try:
            if args.start:
                if not os.access(args.scalpel, os.X_OK):
                    print(f"check_openai_client: no scalpel binary at {args.scalpel}; run `swift build -c release` "
                          "or pass --scalpel", file=sys.stderr)
                    return 2
                if not args.knobs:
                    args.knobs = make_knob(args, work)
                if not args.rate_limit_probe:
                    args.rate_limit_probe = args.queue + 3
                server = Server(args, work)
                base_url, key, has_key = f"http://127.0.0.1:{server.port}/v1", server.key, True
            else:
                base_url, key, has_key = args.base_url, args.api_key, args.api_key is not None
            # No retries: a 429 or a 5xx must show here, not be hidden by the client trying again.
            client = openai.OpenAI(base_url=base_url, api_key=key or "none", max_retries=0, timeout=args.timeout)
            checks(client, base_url, key or "none", args, has_key)
        except KeyboardInterrupt:
            report("interrupted", False)
        except Exception as error:
            report("setup", False, f"{type(error).__name__}: {error}")
        finally:
            if server is not None:
                clock = time.time()
                code = server.stop()
                report("SIGTERM stops the server", code == 0,
                       f"exit {code} after {time.time() - clock:.1f} s" if code is not None else "killed after 90 s")
                if code != 0 or os.environ.get("CHECK_OPENAI_LOG"):
                    print("--- server log ---\n" + server.text() + "--- end ---")
    if gaps:
        print(f"{len(gaps)} compatibility gap(s), not counted as failures (--strict counts them): "
              f"{'; '.join(gaps)}")
    if failures:
        print(f"{len(failures)} check(s) failed: {'; '.join(failures)}")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
