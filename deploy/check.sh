#!/usr/bin/env bash
# Renders both Kubernetes modes with `kubectl kustomize`, validates them offline against the
# Kubernetes API schemas (kubernetes-validate, strict), lints the YAML, and checks the rules the
# drain and the storage depend on (deploy/check_manifests.py). Called by .ci/run; needs kubectl and
# python3. The validators live in .venv-deploy (pinned wheels from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-deploy
if [ ! -x "$venv/bin/kubernetes-validate" ] || [ ! -x "$venv/bin/yamllint" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    kubernetes-validate==1.37.0 yamllint==1.38.0
fi
command -v kubectl >/dev/null || { echo "deploy/check.sh: kubectl is needed (kubectl kustomize)" >&2; exit 1; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for mode in sqlite postgres; do
  kubectl kustomize "deploy/kubernetes/overlays/$mode" > "$out/$mode.yaml"
  # The oldest Kubernetes we claim to run on, and the newest the validator knows.
  for version in 1.29.0 1.34.0; do
    "$venv/bin/kubernetes-validate" --strict --quiet -k "$version" "$out/$mode.yaml"
  done
done
"$venv/bin/yamllint" --strict -c deploy/yamllint.yaml deploy/kubernetes
"$venv/bin/python" deploy/check_manifests.py "$out/sqlite.yaml" "$out/postgres.yaml"
echo "deploy: both Kubernetes modes render and validate"
