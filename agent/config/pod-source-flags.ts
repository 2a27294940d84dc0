// The flags of the static pod sources (agent/sources/): the manifest directory, the manifest URL
// and the manifest server, with their KubeletConfiguration names (staticPodPath, staticPodURL).
// `as const`, as ETCD_FLAGS: config.ts checks the entries against its Flag type where it assembles
// FLAGS, so this file needs nothing from config.ts.

// Static pods from a directory and from a URL, as kubelet.
export const POD_SOURCE_FLAGS = [
  {
    name: 'pod-manifest-path',
    key: 'podManifestPath',
    kind: 'string',
    alias: 'staticPodPath',
    help: 'directory of static pod manifests (YAML/JSON), watched',
  },
  {
    name: 'manifest-url',
    key: 'manifestUrl',
    kind: 'string',
    alias: 'staticPodURL',
    help: 'URL of a Pod or PodList, polled',
  },
  {
    name: 'manifest-url-header',
    key: 'manifestUrlHeader',
    kind: 'headers',
    alias: 'staticPodURLHeader',
    help: "HTTP headers for --manifest-url, 'Name:value' (repeatable)",
  },
  {
    name: 'file-check-frequency',
    key: 'fileCheckFrequencyMs',
    kind: 'duration',
    alias: 'fileCheckFrequency',
    help: 'rescan period of --pod-manifest-path (changes are seen at once anyway) [20s]',
  },
  {
    name: 'http-check-frequency',
    key: 'httpCheckFrequencyMs',
    kind: 'duration',
    alias: 'httpCheckFrequency',
    help: 'poll period of --manifest-url [20s]',
  },
] as const;

// kubenode's own: pods POSTed to the agent (agent/sources/manifest-server.ts).
export const MANIFEST_SERVER_FLAGS = [
  {
    name: 'manifest-server-address',
    key: 'manifestServerAddress',
    kind: 'string',
    help: '[host:]port of the manifest server accepting POST/PUT/DELETE /pods (host defaults to 127.0.0.1)',
  },
  {
    name: 'manifest-server-token-file',
    key: 'manifestServerTokenFile',
    kind: 'string',
    help: 'file holding the bearer token the manifest server requires (mandatory off loopback)',
  },
] as const;
