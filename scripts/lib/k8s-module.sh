# Helpers for building from the k8s.io/kubernetes Go module. Sourced (after versions.sh), not run.
#
# k8s.io/kubernetes is not meant to be used as a dependency: its go.mod points every staging
# module (k8s.io/api, k8s.io/client-go, ...) at ./staging, so a consumer must `replace` each of
# them with its published v0.X.Y tag.

# k8s_gomod MODULE: a go.mod for MODULE requiring the pinned release, every staging module replaced.
k8s_gomod() {
  local m staging_version="v0.${KUBERNETES_VERSION#v1.}"
  echo "module $1"
  echo
  echo "go 1.24"
  echo
  echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
  echo
  echo "replace ("
  for m in $KUBERNETES_STAGING_MODULES; do echo "	k8s.io/$m => k8s.io/$m $staging_version"; done
  echo ")"
}

# k8s_version_ldflags: the version stamped as upstream's hack/lib/version.sh does, so binaries
# report the real release instead of v0.0.0-master.
k8s_version_ldflags() {
  local minor=${KUBERNETES_VERSION#v1.} pkg flags="-s -w"
  minor=${minor%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags="$flags -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  echo "$flags"
}
