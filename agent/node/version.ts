// What the Node reports as nodeInfo.kubeletVersion (the VERSION column of `kubectl get nodes`).
//
// kubenode is not kubelet, so it must not claim to be one exact upstream build; but the field is
// read by people and by tools comparing versions (skew policy, upgrade checks), so it should
// still be a valid semantic version. We report the Kubernetes release whose Node API and kubelet
// behaviour kubenode follows and is tested against (the control plane that scripts/versions.sh
// pins), with a "-kubenode" pre-release suffix, the way other distributions mark their builds
// (k0s reports "v1.20.2-k0s1"). Semver orders a pre-release below the release itself, so a
// version comparison never thinks kubenode is newer than the upstream kubelet it imitates.
// test/unit/node-version.test.ts keeps this in step with scripts/versions.sh.
export const KUBERNETES_RELEASE = 'v1.34.4';
export const KUBELET_VERSION = `${KUBERNETES_RELEASE}-kubenode`;
