"""Checks the rendered Kubernetes manifests for the rules triaged's drain and storage depend on.

Usage: check_manifests.py SQLITE.yaml POSTGRES.yaml — exits 1 with one line per broken rule.
"""

import re
import sys

import yaml


def load(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def one(docs, kind):
    found = [d for d in docs if d["kind"] == kind]
    if len(found) != 1:
        raise SystemExit(f"expected one {kind}, found {len(found)}")
    return found[0]


def seconds(duration):
    m = re.fullmatch(r"(\d+)(s|m)", duration)
    if not m:
        raise SystemExit(f"cannot read the duration {duration!r}")
    return int(m.group(1)) * (60 if m.group(2) == "m" else 1)


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()) and bool(
        selector.get("matchLabels")
    )


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def check_policy(mode, policy, container, env, problems):
    """Only the ingress controller reaches the webhook port; /metrics has a port of its own that
    only the monitoring namespace reaches."""
    http = port_of(env["TRIAGED_LISTEN"]["value"])
    if "TRIAGED_METRICS_LISTEN" not in env:
        problems.append(f"{mode}: /metrics needs its own port (TRIAGED_METRICS_LISTEN), or Prometheus reaches the webhook port")
        return
    metrics = port_of(env["TRIAGED_METRICS_LISTEN"]["value"])
    declared = {p["containerPort"] for p in container.get("ports", [])}
    if {http, metrics} - declared:
        problems.append(f"{mode}: the container must declare ports {http} and {metrics}")
    rules = policy["spec"].get("ingress", [])
    for rule in rules:
        ports = {p["port"] for p in rule.get("ports", [])}
        sources = [s.get("namespaceSelector", {}).get("matchLabels", {}) for s in rule.get("from", [])]
        if not ports or not sources:
            problems.append(f"{mode}: every NetworkPolicy rule must name its ports and its sources")
        if http in ports and len(sources) != 1:
            problems.append(f"{mode}: only the ingress controller's namespace may reach port {http}")
        if http in ports and metrics in ports:
            problems.append(f"{mode}: the webhook port and the metrics port need separate rules")
    if not any(http in {p["port"] for p in r.get("ports", [])} for r in rules):
        problems.append(f"{mode}: the NetworkPolicy must let the ingress reach port {http}")


def common(mode, docs, problems):
    deploy = one(docs, "Deployment")
    pod = deploy["spec"]["template"]
    labels = pod["metadata"]["labels"]
    spec = pod["spec"]
    (container,) = spec["containers"]
    env = env_of(container)
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    pre_stop_s = int(pre_stop[1]) if pre_stop[0] == "sleep" else 0
    grace = seconds(env["TRIAGED_SHUTDOWN_GRACE"]["value"]) if "TRIAGED_SHUTDOWN_GRACE" in env else 10
    budget = spec.get("terminationGracePeriodSeconds", 30)
    if budget < pre_stop_s + grace + 5:
        problems.append(
            f"{mode}: terminationGracePeriodSeconds {budget} < preStop {pre_stop_s} s + "
            f"TRIAGED_SHUTDOWN_GRACE {grace} s + 5 s margin: a draining pod would be killed"
        )
    if not spec["securityContext"].get("runAsNonRoot"):
        problems.append(f"{mode}: the pod must run as non-root")
    if container["readinessProbe"]["httpGet"]["path"] != "/readyz":
        problems.append(f"{mode}: the readiness probe must be /readyz (503 while draining)")
    if container["livenessProbe"]["httpGet"]["path"] != "/healthz":
        problems.append(f"{mode}: the liveness probe must be /healthz")
    if "limits" not in container.get("resources", {}) or "requests" not in container["resources"]:
        problems.append(f"{mode}: resource requests and limits must be set")
    if not selects(deploy["spec"]["selector"], labels):
        problems.append(f"{mode}: the Deployment's selector must match its pods")
    policy = one(docs, "NetworkPolicy")
    if not selects(policy["spec"]["podSelector"], labels):
        problems.append(f"{mode}: the NetworkPolicy must select the triaged pods")
    check_policy(mode, policy, container, env, problems)
    service = one(docs, "Service")
    if any(service["spec"]["selector"].get(k) != v for k, v in service["spec"]["selector"].items() if k not in labels):
        problems.append(f"{mode}: the Service must select the triaged pods")
    for name, entry in env.items():
        if any(word in name for word in ("SECRET", "TOKEN", "API_KEY")) and "value" in entry:
            problems.append(f"{mode}: {name} must come from a Secret, not a literal")
    return deploy, env


def main(sqlite_path, postgres_path):
    problems = []
    docs = load(sqlite_path)
    deploy, env = common("sqlite", docs, problems)
    if deploy["spec"].get("replicas") != 1 or deploy["spec"]["strategy"]["type"] != "Recreate":
        problems.append("sqlite: exactly one replica with the Recreate strategy (one writer per file)")
    if not env.get("TRIAGED_DATABASE_URL", {}).get("value", "").startswith("sqlite://"):
        problems.append("sqlite: TRIAGED_DATABASE_URL must be a sqlite:// path on the volume")
    if one(docs, "PersistentVolumeClaim")["spec"]["accessModes"] != ["ReadWriteOnce"]:
        problems.append("sqlite: the volume must be ReadWriteOnce")

    docs = load(postgres_path)
    deploy, env = common("postgres", docs, problems)
    labels = deploy["spec"]["template"]["metadata"]["labels"]
    replicas = deploy["spec"].get("replicas", 1)
    rolling = deploy["spec"]["strategy"]
    if replicas < 2:
        problems.append("postgres: several replicas")
    if rolling["type"] != "RollingUpdate" or rolling["rollingUpdate"]["maxUnavailable"] != 0:
        problems.append("postgres: RollingUpdate with maxUnavailable 0 (no capacity lost in a deploy)")
    if "secretKeyRef" not in env.get("TRIAGED_DATABASE_URL", {}).get("valueFrom", {}):
        problems.append("postgres: TRIAGED_DATABASE_URL must come from a Secret")
    if [d for d in docs if d["kind"] == "PersistentVolumeClaim"]:
        problems.append("postgres: replicas share no volume")
    pdb = one(docs, "PodDisruptionBudget")
    if not selects(pdb["spec"]["selector"], labels):
        problems.append("postgres: the PodDisruptionBudget must select the triaged pods")
    if not 1 <= pdb["spec"].get("minAvailable", 0) < replicas:
        problems.append("postgres: the PodDisruptionBudget must leave room to drain one pod")

    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
