#!/usr/bin/env bash
# Offline checks of packaging/k8s (no cluster here): Debian's python3-yaml
# parses every manifest and test/k8s/k8s_manifest.py asserts what matters
# (kinds and apiVersions, hugepages and memory resources, the hostPath run
# dir, no privileged container, every added capability explained by its
# comment, xio-manager --foreground, LD_PRELOAD where the init container
# installs the library, one domain and group per trust zone), and kubectl
# decodes every object into its typed API structs client-side
# (`kubectl set resources --local`: no API server needed; `apply
# --dry-run=client` is not offline, it asks the server for its API groups).
# Then the same checks must fail on broken copies: the test can fail.
set -euo pipefail
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PY=/usr/bin/python3
CHECK=$SOURCE_DIR/test/k8s/k8s_manifest.py
K8S=$SOURCE_DIR/packaging/k8s

fail() {
	echo "FAIL [k8s_manifests]: $*" >&2
	exit 1
}
"$PY" -c 'import yaml' 2>/dev/null || fail "python3-yaml is not installed (packaging/install-deps.sh installs it)"
command -v kubectl >/dev/null || fail "kubectl is not installed (packaging/install-deps.sh installs kubernetes-client)"
echo "kubectl: $(kubectl version --client 2>/dev/null | head -n 1)"

"$PY" "$CHECK" check "$K8S" || fail "the manifests in $K8S do not pass"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# broken copy MESSAGE SED-SCRIPT [FILE]: the check must fail, saying MESSAGE
broken() {
	local msg=$1 script=$2 file=${3:-xio-manager-team-a.yaml} out rc=0
	rm -rf "$WORK/k8s"
	cp -r "$K8S" "$WORK/k8s"
	sed -i -e "$script" "$WORK/k8s/$file"
	cmp -s "$K8S/$file" "$WORK/k8s/$file" && fail "sed '$script' changed nothing in $file"
	out=$("$PY" "$CHECK" check "$WORK/k8s" 2>&1) || rc=$?
	((rc != 0)) || fail "the check passed a broken $file ($script)"
	grep -qF -- "$msg" <<<"$out" || fail "broken $file ($script): expected '$msg' in: $out"
	echo "broken copy refused: $msg"
}
broken "capability SYS_ADMIN has no comment" '/# CAP_SYS_ADMIN: setns/,/- SYS_ADMIN/{/#/d}'
broken "adds capabilities nobody explained" 's/^\(\s*\)- SYS_PTRACE$/\1- SYS_PTRACE\n\1- SYS_RAWIO/'
broken "manager: privileged" '0,/privileged: false/!{0,/privileged: false/s/privileged: false/privileged: true/}'
broken "lacks hugepages-2Mi" '0,/hugepages-2Mi: 256Mi/{/hugepages-2Mi: 256Mi/d}'
broken "does not run /opt/xio/bin/xio-manager --foreground" '/^            - --foreground$/d'
broken "is not where the init container installs it" 's|value: /opt/xio/lib/libxio_preload.so|value: /usr/lib/libxio_preload.so|' example-team-a.yaml
broken "not in the domain's group 5000" 's/supplementalGroups: \[5000\]/supplementalGroups: [6000]/' example-team-a.yaml
broken "is not xio-manager-team-a.yaml with" 's/"5001"/"5002"/' xio-manager-team-b.yaml
broken "unable to decode" 's/hugepages-2Mi: 256Mi/hugepages-2Mi: 256Qq/'
echo "PASS: packaging/k8s manifests"
