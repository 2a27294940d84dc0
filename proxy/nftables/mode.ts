// --proxy-mode nftables: build the nftables proxier from the flags (the hook proxy/modes.ts
// calls). A machine without nft or nf_tables is refused at once, with what to do instead.
import type { Logger } from '../../lib/log.js';
import { FlagError, type ProxyFlags } from '../flags.js';
import { serviceNatOptions, type Proxier } from '../proxier.js';
import { checkNftables } from './nft.js';
import { NftablesProxier } from './proxier.js';

export async function createNftablesProxier(flags: ProxyFlags, log: Logger): Promise<Proxier> {
  // --cleanup must work without nf_tables too (there is then nothing of ours to remove).
  if (!flags.cleanup) {
    const problem = await checkNftables();
    if (problem) throw new FlagError(`--proxy-mode nftables: ${problem}`);
  }
  return new NftablesProxier(serviceNatOptions(flags, log));
}
