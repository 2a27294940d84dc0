// What a CNI plugin says to a person rather than to a runtime. A runtime always sets CNI_COMMAND
// and passes no arguments (SPEC.md, "Parameters": everything travels in the environment and on
// stdin), so neither text can be mistaken for a reply to a runtime:
// - without CNI_COMMAND, the "about" text on stderr and exit 0, as libcni's skel does
//   (PluginMainFuncsWithError: an empty CNI_COMMAND prints the plugin's about string and
//   returns), which is what the reference plugins answer to `bridge` typed in a shell;
// - with --help or -h, how to call it on stdout and exit 0, as any command line program.
// Neither reads stdin, so a plugin run by hand in a terminal answers at once.
import { COMMANDS } from './env.js';
import { SUPPORTED_VERSIONS } from '../spec/version.js';

export function aboutText(plugin: string, about: string): string {
  return `${plugin}: ${about}\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(', ')}\n`;
}

export function usageText(plugin: string, about: string): string {
  return [
    `Usage: CNI_COMMAND=COMMAND [CNI_CONTAINERID=ID CNI_NETNS=PATH CNI_IFNAME=NAME CNI_ARGS=K=V;... CNI_PATH=DIRS] ${plugin} < NETWORK_CONFIG.json`,
    '',
    `${plugin}: ${about}`,
    'A CNI plugin: a container runtime (the kubenode agent, containerd, CRI-O) runs it for each pod',
    'sandbox, passing the command and the sandbox in the environment and the network configuration',
    'on stdin, and reads the result (or an error) as JSON on stdout.',
    `  COMMAND is one of ${COMMANDS.join(', ')}; VERSION needs nothing else.`,
    `  CNI protocol versions supported: ${SUPPORTED_VERSIONS.join(', ')}`,
    `Try: CNI_COMMAND=VERSION ${plugin} < /dev/null`,
    '',
  ].join('\n');
}
