"""A stand-in for Amazon Bedrock Runtime on 127.0.0.1, for the tests of the Bedrock llm backend.

It checks what the AWS SDK sends and answers in Bedrock's own shapes:
  POST /model/{id}/converse   Converse: messages[{role, content[{text}]}], system[{text}],
                              inferenceConfig{maxTokens, temperature == 0}
                              -> {output: {message: {role, content[{text}]}}, stopReason, usage, metrics}
  POST /model/{id}/invoke     InvokeModel with Titan Text Embeddings v2's body {inputText, dimensions, normalize}
                              -> {embedding, inputTextTokenCount}
  POST /retrieveAndGenerate   Bedrock Agent Runtime's RetrieveAndGenerate on a knowledge base:
                              input{text}, retrieveAndGenerateConfiguration{type KNOWLEDGE_BASE,
                              knowledgeBaseConfiguration{knowledgeBaseId, modelArn (a foundation-model ARN)}}
                              -> {output{text}, citations[{generatedResponsePart{textResponsePart{text, span}},
                                  retrievedReferences[{content{text}, location{type S3, s3Location{uri}}}]}], sessionId}
Every call must be signed with SigV4 for the given access key, region and the signing name `bedrock`;
the signature itself is recomputed with the secret key and compared.

A Converse call whose message is numbered sources ("Sources:\n\n[1] <chunk id> (<heading>)\n<text>...
Question: ...") is answered with the first line of source [1]'s text, cited as [1]; any other message
gets a short fixed reply. A knowledge base holds the documents a test loaded, split into passages at their
headings (as Bedrock chunks a markdown data source); the passages sharing the most words with the question are
retrieved, and the answer is the best one's first sentence, citing them; a question no passage shares a word
with gets Bedrock's own refusal ("Sorry, I am unable to assist you with this request.").
Tests script misbehaviour and load knowledge bases through unsigned control endpoints:
  POST /_standin/plan      {"converse": ["throttle", ...], "invoke": [...], "retrieve": [...]}: what the next calls
                           do, in order: throttle (429 ThrottlingException), validation (400 ValidationException),
                           server-error (500), cite-unsent (cites a source that was not sent),
                           unbacked-number (states a number no source holds), dont-know, no-citation
                           (RetrieveAndGenerate answers without citations), ok
  POST /_standin/knowledge-bases/{id}   {"documents": [{"uri", "text"}]}: loads a knowledge base
  GET  /_standin/requests  every call so far: operation, model, HTTP status, what it did

Usage: python3 bedrock_standin.py ACCESS_KEY SECRET_KEY REGION
Prints the port it listens on, then serves until killed. Standard library only.
"""

import hashlib
import hmac
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote

ACCESS_KEY, SECRET_KEY, REGION = sys.argv[1], sys.argv[2], sys.argv[3]
SERVICE = "bedrock"
AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})$"
)
SOURCE = re.compile(r"^\[(\d+)\] (\S+) \((.*)\)$")
LOCK = threading.Lock()
PLAN = {"converse": [], "invoke": [], "retrieve": []}
KNOWLEDGE_BASES = {}  # id -> [(uri, passage text)]
WORD = re.compile(r"[a-z0-9_]+")
STOPWORDS = {"the", "and", "what", "does", "how", "are", "for", "with", "this", "that", "which", "mean", "its", "why"}
REQUESTS = []


def next_step(operation):
    with LOCK:
        queue = PLAN[operation]
        return queue.pop(0) if queue else "ok"


def record(**event):
    with LOCK:
        REQUESTS.append(event)


def hmac_sha256(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def expected_signature(method, raw_path, headers, signed, body, date, amz_date):
    """SigV4 as AWS computes it for a non-S3 service: the path URI-encoded once more, headers trimmed."""
    path, _, query = raw_path.partition("?")
    canonical_uri = quote(path, safe="/-_.~")
    params = sorted(p.split("=", 1) if "=" in p else [p, ""] for p in query.split("&") if p)
    canonical_query = "&".join(k + "=" + v for k, v in params)
    canonical_headers = "".join(
        name + ":" + " ".join(headers.get(name, "").split()) + "\n" for name in signed
    )
    payload_hash = headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
    canonical = "\n".join([method, canonical_uri, canonical_query, canonical_headers, ";".join(signed), payload_hash])
    scope = "/".join([date, REGION, SERVICE, "aws4_request"])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + SECRET_KEY).encode()
    for part in (date, REGION, SERVICE, "aws4_request"):
        key = hmac_sha256(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def embedding(text, dimensions):
    """A deterministic unit vector of hashed words: similar texts land close, as with a real model."""
    vector = [0.0] * dimensions
    for word in re.findall(r"[a-z0-9_]+", text.lower()):
        h = int(hashlib.sha256(word.encode()).hexdigest(), 16)
        vector[h % dimensions] += 1.0 if (h >> 20) % 2 == 0 else -1.0
    norm = sum(v * v for v in vector) ** 0.5 or 1.0
    return [v / norm for v in vector]


def sources_of(message):
    """[(number, chunk id, text)] of a numbered-sources message."""
    found, current = [], None
    for line in message.split("\nQuestion: ", 1)[0].splitlines():
        m = SOURCE.match(line)
        if m:
            current = [int(m.group(1)), m.group(2), []]
            found.append(current)
        elif current is not None:
            current[2].append(line)
    return [(n, chunk, "\n".join(lines)) for n, chunk, lines in found]


def words(text):
    return {w for w in WORD.findall(text.lower()) if len(w) > 2 and w not in STOPWORDS}


def passages_of(documents):
    """Each document split into its sections (heading line and body), as Bedrock's hierarchical
    chunking splits markdown; a heading with no body of its own is not a passage."""
    found = []
    for document in documents:
        sections = [[]]
        for line in document["text"].splitlines():
            if line.startswith("#"):
                sections.append([])
            sections[-1].append(line)
        for lines in sections:
            body = [l for l in lines if l.strip() and not l.startswith("#")]
            if body:
                found.append((document["uri"], "\n".join(lines).strip() + "\n"))
    return found


def relevance(asked, passage):
    """Question words in the heading count twice (titles weigh more), then those in the body."""
    heading, _, body = passage.partition("\n") if passage.startswith("#") else ("", "", passage)
    return 2 * len(asked & words(heading)) + len(asked & words(body))


def first_sentence(text):
    line = first_statement(text)
    end = re.search(r"(?<=[a-z)`])\. ", line)
    return line[: end.start() + 1] if end else line


def first_statement(text):
    for line in text.splitlines():
        line = line.strip().strip("|").strip()
        if line and not line.startswith("#") and not set(line) <= set("-| :"):
            return line
    return text.strip()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, error_type=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", "standin-%d" % len(REQUESTS))
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        self.end_headers()
        self.wfile.write(data)

    def error(self, operation, model, status, error_type, message, step):
        record(operation=operation, model=model, status=status, step=step)
        self.reply(status, {"message": message}, error_type)

    def reject(self, problem):
        record(operation="rejected", model=None, status=400, step=problem)
        self.reply(400, {"message": "stand-in rejected the request: " + problem}, "ValidationException")

    def do_GET(self):
        if self.path == "/_standin/requests":
            with LOCK:
                return self.reply(200, list(REQUESTS))
        self.reject("unknown path " + self.path)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/_standin/plan":
            plan = json.loads(body)
            with LOCK:
                for operation, steps in plan.items():
                    PLAN[operation].extend(steps)
            return self.reply(200, PLAN)
        if self.path.startswith("/_standin/knowledge-bases/"):
            documents = json.loads(body)["documents"]
            with LOCK:
                KNOWLEDGE_BASES[self.path.rsplit("/", 1)[1]] = passages_of(documents)
            return self.reply(200, {"passages": len(KNOWLEDGE_BASES[self.path.rsplit("/", 1)[1]])})
        problem = self.check_signature(body)
        if problem:
            record(operation="rejected", model=None, status=403, step=problem)
            return self.reply(403, {"message": "stand-in: " + problem}, "InvalidSignatureException")
        try:
            request = json.loads(body)
        except ValueError:
            return self.reject("the body is not JSON")
        if self.path == "/retrieveAndGenerate":
            return self.retrieve_and_generate(request)
        parts = self.path.split("?")[0].split("/")
        if len(parts) != 4 or parts[1] != "model":
            return self.reject("unexpected path " + self.path)
        model, operation = unquote(parts[2]), parts[3]
        if operation == "converse":
            return self.converse(model, request)
        if operation == "invoke":
            return self.invoke(model, request)
        return self.reject("unknown operation " + operation)

    def check_signature(self, body):
        auth = self.headers.get("Authorization", "")
        m = AUTH.match(auth)
        if not m:
            return "Authorization is not AWS4-HMAC-SHA256 with Credential, SignedHeaders and Signature"
        if (m["key"], m["region"], m["service"]) != (ACCESS_KEY, REGION, SERVICE):
            return "credential scope %s/%s/%s, expected %s/%s/%s" % (m["key"], m["region"], m["service"], ACCESS_KEY, REGION, SERVICE)
        signed = m["signed"].split(";")
        if "host" not in signed or "x-amz-date" not in signed:
            return "SignedHeaders lacks host or x-amz-date: " + m["signed"]
        amz_date = self.headers.get("X-Amz-Date", "")
        if not amz_date.startswith(m["date"]):
            return "X-Amz-Date %r is not of the credential's date %s" % (amz_date, m["date"])
        headers = {k.lower(): v for k, v in self.headers.items()}
        expected = expected_signature(self.command, self.path, headers, signed, body, m["date"], amz_date)
        if not hmac.compare_digest(expected, m["signature"]):
            return "the SigV4 signature does not match the request"
        return None

    def converse(self, model, request):
        messages = request.get("messages")
        if not (isinstance(messages, list) and len(messages) >= 1 and messages[-1].get("role") == "user"):
            return self.reject("messages must end with a user message")
        content = messages[-1].get("content") or [{}]
        text = content[0].get("text")
        if not isinstance(text, str) or not text:
            return self.reject("the user message has no text block")
        config = request.get("inferenceConfig") or {}
        if config.get("temperature") != 0:
            return self.reject("inferenceConfig.temperature must be 0, got %r" % config.get("temperature"))
        system = " ".join(block.get("text", "") for block in request.get("system", []))
        step = next_step("converse")
        if step == "throttle":
            return self.error("Converse", model, 429, "ThrottlingException", "Too many requests, please wait before trying again.", step)
        if step == "validation":
            return self.error("Converse", model, 400, "ValidationException", "The provided model identifier is invalid.", step)
        if step == "server-error":
            return self.error("Converse", model, 500, "InternalServerException", "The server encountered an internal error.", step)
        sources = sources_of(text) if text.startswith("Sources:") else []
        if sources:
            if "numbered sources" not in system or "I don't know" not in system:
                return self.reject("numbered sources came without the system prompt that confines the answer to them")
            statement = first_statement(sources[0][2])
            answer = {
                "cite-unsent": "%s [%d]" % (statement, len(sources) + 1),
                "unbacked-number": "%s [1]. Next week 987654 more users will engage [1]." % statement,
                "dont-know": "I don't know.",
            }.get(step, "%s [1]" % statement)
        else:
            answer = "Stand-in Claude read %d characters." % len(text)
        record(operation="Converse", model=model, status=200, step=step, sources=len(sources), system=bool(system),
               max_tokens=config.get("maxTokens"))
        self.reply(200, {
            "output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": len(text) // 4, "outputTokens": len(answer) // 4, "totalTokens": (len(text) + len(answer)) // 4},
            "metrics": {"latencyMs": 7},
        })

    def invoke(self, model, request):
        if set(request) != {"inputText", "dimensions", "normalize"}:
            return self.reject("the Titan v2 body must be {inputText, dimensions, normalize}, got %s" % sorted(request))
        if request["dimensions"] not in (256, 512, 1024) or not isinstance(request["normalize"], bool):
            return self.reject("dimensions must be 256, 512 or 1024 and normalize a boolean")
        if not isinstance(request["inputText"], str) or not request["inputText"]:
            return self.reject("inputText must be non-empty text")
        step = next_step("invoke")
        if step == "throttle":
            return self.error("InvokeModel", model, 429, "ThrottlingException", "Too many requests, please wait before trying again.", step)
        if step == "validation":
            return self.error("InvokeModel", model, 400, "ValidationException", "Malformed input request.", step)
        record(operation="InvokeModel", model=model, status=200, step=step)
        text = request["inputText"]
        self.reply(200, {"embedding": embedding(text, request["dimensions"]), "inputTextTokenCount": len(text.split())})

    def retrieve_and_generate(self, request):
        question = (request.get("input") or {}).get("text")
        if not isinstance(question, str) or not question:
            return self.reject("input.text must be non-empty text")
        config = request.get("retrieveAndGenerateConfiguration") or {}
        if config.get("type") != "KNOWLEDGE_BASE":
            return self.reject("retrieveAndGenerateConfiguration.type must be KNOWLEDGE_BASE, got %r" % config.get("type"))
        kb = config.get("knowledgeBaseConfiguration") or {}
        kb_id, model_arn = kb.get("knowledgeBaseId"), kb.get("modelArn", "")
        if not re.match(r"^arn:aws:bedrock:[a-z0-9-]+::foundation-model/\S+$", model_arn):
            return self.reject("knowledgeBaseConfiguration.modelArn must be a foundation-model ARN, got %r" % model_arn)
        step = next_step("retrieve")
        if step == "throttle":
            return self.error("RetrieveAndGenerate", kb_id, 429, "ThrottlingException", "Your request was denied due to exceeding the account quotas.", step)
        if step == "validation":
            return self.error("RetrieveAndGenerate", kb_id, 400, "ValidationException", "The model ARN is not supported.", step)
        with LOCK:
            passages = KNOWLEDGE_BASES.get(kb_id)
        if passages is None:
            return self.error("RetrieveAndGenerate", kb_id, 404, "ResourceNotFoundException", "Knowledge base %s does not exist." % kb_id, step)
        asked = words(question)
        scored = sorted(
            ((relevance(asked, text), len(text), uri, text) for uri, text in passages),
            key=lambda s: (-s[0], s[1]),
        )
        retrieved = [(uri, text) for score, _, uri, text in scored[:3] if score > 0]
        if not retrieved or step == "dont-know":
            answer, citations = "Sorry, I am unable to assist you with this request.", []
        else:
            answer = first_sentence(retrieved[0][1])
            if step == "unbacked-number":
                answer += " Next week 987654 more users will engage."
            references = [
                {"content": {"text": text}, "location": {"type": "S3", "s3Location": {"uri": uri}}, "metadata": {}}
                for uri, text in retrieved
            ]
            part = {"textResponsePart": {"text": answer, "span": {"start": 0, "end": len(answer) - 1}}}
            citations = [] if step == "no-citation" else [{"generatedResponsePart": part, "retrievedReferences": references}]
        record(operation="RetrieveAndGenerate", model=kb_id, model_arn=model_arn, status=200, step=step, passages=len(retrieved))
        self.reply(200, {"output": {"text": answer}, "citations": citations, "sessionId": "standin-session-%d" % len(REQUESTS)})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
