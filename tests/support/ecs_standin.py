"""A stand-in for Amazon ECS on 127.0.0.1, for the shard fan-out tests.

Speaks the ECS wire protocol (awsJson1_1, X-Amz-Target
AmazonEC2ContainerServiceV20141113.<Operation>) for RunTask, DescribeTasks and
StopTask, checks every request's SigV4 signature against the one access key it
knows, validates the request bodies, and runs each task's overridden container
command as a LOCAL PROCESS (`<engage> <command...>` with this server's
environment, as a task definition's environment would be), reporting its real
exit code in ECS's response shapes.

    python ecs_standin.py --port P --engage /path/to/engage --log tasks.jsonl \
        [--cluster engage] [--container engage] [--throttle-once] [--fail-first-task-of-shard N]

--throttle-once answers the first RunTask with HTTP 429 ThrottlingException;
--fail-first-task-of-shard N makes the first task of shard N exit 1 without
running (a container that crashed at start). Every RunTask (and throttled call)
is appended to --log as one JSON line.
"""

import argparse
import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."
ACCOUNT = "123456789012"


class ApiError(Exception):
    def __init__(self, status, kind, message):
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


def sign(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.tasks = {}
        self.throttle_pending = args.throttle_once
        self.fail_pending = args.fail_first_task_of_shard is not None

    def log(self, entry):
        with self.lock, open(self.args.log, "a") as f:
            f.write(json.dumps(entry) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State = None

    def log_message(self, *_):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            self.check_signature(body)
            target = self.headers.get("X-Amz-Target", "")
            if not target.startswith(TARGET_PREFIX):
                raise ApiError(400, "UnknownOperationException", f"X-Amz-Target '{target}' is not an ECS operation")
            operation = target[len(TARGET_PREFIX):]
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                raise ApiError(400, "SerializationException", "the body is not JSON")
            if not isinstance(request, dict):
                raise ApiError(400, "SerializationException", "the body is not a JSON object")
            handler = {"RunTask": self.run_task, "DescribeTasks": self.describe_tasks, "StopTask": self.stop_task}.get(operation)
            if handler is None:
                raise ApiError(400, "UnknownOperationException", f"{operation} is not served by this stand-in")
            self.answer(200, handler(request))
        except ApiError as e:
            self.answer(e.status, {"__type": e.kind, "message": e.message})

    def answer(self, status, document):
        data = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(data)

    # ---- SigV4 --------------------------------------------------------------

    def check_signature(self, body):
        args = self.state.args
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            raise ApiError(403, "MissingAuthenticationTokenException", "no AWS4-HMAC-SHA256 Authorization header")
        fields = dict(part.strip().split("=", 1) for part in auth[len("AWS4-HMAC-SHA256 "):].split(","))
        try:
            key, date, region, service, terminal = fields["Credential"].split("/")
            signed_headers, signature = fields["SignedHeaders"], fields["Signature"]
        except (KeyError, ValueError):
            raise ApiError(403, "IncompleteSignatureException", f"malformed Authorization header: {auth}")
        amz_date = self.headers.get("X-Amz-Date", "")
        if key != args.access_key:
            raise ApiError(403, "UnrecognizedClientException", f"the access key {key} is not known")
        if (region, service, terminal) != (args.region, "ecs", "aws4_request") or date != amz_date[:8]:
            raise ApiError(403, "InvalidSignatureException", f"credential scope {date}/{region}/{service}/{terminal} is not {amz_date[:8]}/{args.region}/ecs/aws4_request")
        names = signed_headers.split(";")
        for required in ("host", "x-amz-date", "x-amz-target"):
            if required not in names:
                raise ApiError(403, "InvalidSignatureException", f"SignedHeaders lacks {required}")
        payload_hash = hashlib.sha256(body).hexdigest()
        canonical_headers = "".join(f"{n}:{' '.join((self.headers.get(n) or '').split())}\n" for n in names)
        path, _, query = self.path.partition("?")
        canonical = "\n".join(["POST", path or "/", query, canonical_headers, signed_headers, payload_hash])
        scope = f"{date}/{region}/ecs/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        k = sign(("AWS4" + args.secret_key).encode(), date)
        for part in (region, "ecs", "aws4_request"):
            k = sign(k, part)
        expected = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise ApiError(403, "InvalidSignatureException", "the request signature does not match")

    # ---- operations ---------------------------------------------------------

    def cluster_of(self, request):
        cluster = request.get("cluster", "default")
        name = cluster.rsplit("/", 1)[-1]
        if name != self.state.args.cluster:
            raise ApiError(400, "ClusterNotFoundException", f"Cluster not found: {cluster}")
        return name

    def run_task(self, request):
        state, args = self.state, self.state.args
        if state.throttle_pending:
            state.throttle_pending = False
            state.log({"throttled": "RunTask"})
            raise ApiError(429, "ThrottlingException", "Rate exceeded")
        cluster = self.cluster_of(request)
        for key in ("taskDefinition",):
            if not isinstance(request.get(key), str) or not request[key]:
                raise ApiError(400, "InvalidParameterException", f"{key} is required")
        if request.get("launchType", "EC2") != "FARGATE":
            raise ApiError(400, "InvalidParameterException", f"launchType {request.get('launchType')!r}: this cluster runs FARGATE only")
        if request.get("count", 1) != 1:
            raise ApiError(400, "InvalidParameterException", "count must be 1 here")
        vpc = (request.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
        if not vpc.get("subnets") or not all(isinstance(s, str) and s.startswith("subnet-") for s in vpc["subnets"]):
            raise ApiError(400, "InvalidParameterException", "Network Configuration must be provided when networkMode 'awsvpc' is specified (subnets)")
        if vpc.get("assignPublicIp", "DISABLED") not in ("ENABLED", "DISABLED"):
            raise ApiError(400, "InvalidParameterException", "assignPublicIp must be ENABLED or DISABLED")
        overrides = (request.get("overrides") or {}).get("containerOverrides") or []
        if len(overrides) != 1 or overrides[0].get("name") != args.container:
            raise ApiError(400, "InvalidParameterException", f"containerOverrides must name the container {args.container!r}")
        command = overrides[0].get("command")
        if not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command):
            raise ApiError(400, "InvalidParameterException", "containerOverrides[0].command must be a list of strings")

        task_id = uuid.uuid4().hex
        arn = f"arn:aws:ecs:{args.region}:{ACCOUNT}:task/{cluster}/{task_id}"
        shard = int(command[command.index("--shard") + 1]) if "--shard" in command else None
        task = {"arn": arn, "cluster": cluster, "definition": request["taskDefinition"], "created": time.time(),
                "process": None, "exit": None, "reason": None, "stop_code": None}
        if state.fail_pending and shard == args.fail_first_task_of_shard:
            state.fail_pending = False
            task.update(exit=1, reason="Essential container in task exited", stop_code="EssentialContainerExited")
            crashed = True
        else:
            task["process"] = subprocess.Popen([args.engage] + command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            crashed = False
        with state.lock:
            state.tasks[arn] = task
        state.log({"arn": arn, "command": command, "shard": shard, "crashed": crashed, "startedBy": request.get("startedBy")})
        return {"tasks": [self.describe(task)], "failures": []}

    def describe_tasks(self, request):
        cluster = self.cluster_of(request)
        arns = request.get("tasks")
        if not isinstance(arns, list) or not arns or len(arns) > 100:
            raise ApiError(400, "InvalidParameterException", "tasks must list 1 to 100 task ARNs")
        tasks, failures = [], []
        for arn in arns:
            task = self.state.tasks.get(arn)
            if task is None or task["cluster"] != cluster:
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                tasks.append(self.describe(task))
        return {"tasks": tasks, "failures": failures}

    def stop_task(self, request):
        self.cluster_of(request)
        task = self.state.tasks.get(request.get("task"))
        if task is None:
            raise ApiError(400, "InvalidParameterException", f"The referenced task was not found: {request.get('task')}")
        if task["process"] is not None and task["process"].poll() is None:
            task["process"].kill()
            task["process"].wait()
            task.update(reason=request.get("reason") or "Task stopped by user", stop_code="UserInitiated")
        return {"task": self.describe(task)}

    def describe(self, task):
        process = task["process"]
        if process is not None and process.poll() is not None and task["exit"] is None:
            code = process.returncode
            task["exit"] = code if code >= 0 else 128 - code
            task["reason"] = task["reason"] or "Essential container in task exited"
            task["stop_code"] = task["stop_code"] or "EssentialContainerExited"
        stopped = task["exit"] is not None
        young = time.time() - task["created"] < 0.1
        status = "STOPPED" if stopped else ("PENDING" if young else "RUNNING")
        container = {"containerArn": task["arn"].replace(":task/", ":container/"), "taskArn": task["arn"],
                     "name": self.state.args.container, "lastStatus": status}
        document = {"taskArn": task["arn"], "clusterArn": f"arn:aws:ecs:{self.state.args.region}:{ACCOUNT}:cluster/{task['cluster']}",
                    "taskDefinitionArn": task["definition"], "lastStatus": status, "desiredStatus": "STOPPED" if stopped else "RUNNING",
                    "launchType": "FARGATE", "createdAt": task["created"], "containers": [container]}
        if stopped:
            container["exitCode"] = task["exit"]
            document.update(stoppedReason=task["reason"], stopCode=task["stop_code"], stoppedAt=time.time())
        return document


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--engage", required=True, help="the engage binary the container command runs with")
    parser.add_argument("--log", required=True)
    parser.add_argument("--cluster", default="engage")
    parser.add_argument("--container", default="engage")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--access-key", default="AKIDECSSTANDIN")
    parser.add_argument("--secret-key", default="ecs-standin-secret")
    parser.add_argument("--throttle-once", action="store_true")
    parser.add_argument("--fail-first-task-of-shard", type=int)
    args = parser.parse_args()
    Handler.state = State(args)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"ECS stand-in on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
