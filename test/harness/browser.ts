// A real browser for the failover page: Debian's chromium (scripts/setup.sh installs it), driven
// headless by playwright-core (the automation library without its own browser downloads).
// What the page shows is read from the rendered DOM, and a screenshot is taken.
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.KUBENODE_CHROMIUM ?? '/usr/bin/chromium';

export async function launchChromium(executable = CHROMIUM): Promise<Browser> {
  if (!existsSync(executable)) {
    throw new Error(
      `no Chromium at ${executable}: install Debian's chromium (sudo scripts/setup.sh does; or apt-get install chromium), or set KUBENODE_CHROMIUM to another Chromium`,
    );
  }
  // --no-sandbox: Chromium refuses to start its sandbox as root, which the tests run as.
  return chromium.launch({ executablePath: executable, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
}

export interface RenderedScenario {
  scenario: string;
  /** From the page's JSON data. */
  requests: number;
  events: number;
  /** From the drawn SVG: request marks, failed ones, event lines, shaded windows. */
  points: number;
  failedPoints: number;
  eventLines: number;
  windows: number;
  /** The chart's size on screen (0 when the browser did not lay it out). */
  width: number;
  height: number;
}

/** Opens a failover page, reads what is drawn per scenario, and saves a full-page screenshot. */
export async function inspectFailoverPage(file: string, screenshot: string): Promise<RenderedScenario[]> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1180, height: 400 } });
    await page.goto(pathToFileURL(file).href);
    const found = await page.evaluate(() => {
      // Runs in the page (this project compiles without the DOM types).
      const document = (globalThis as any).document;
      const data = JSON.parse(document.getElementById('failover-data')!.textContent!);
      return (data.scenarios as any[]).map((s) => {
        const svg = document.querySelector(`svg.timeline[data-scenario="${s.scenario}"]`);
        const box = svg?.getBoundingClientRect() as { width: number; height: number } | undefined;
        return {
          scenario: s.scenario as string,
          requests: s.samples.length as number,
          events: s.events.length as number,
          points: svg ? svg.querySelectorAll('.req').length : -1,
          failedPoints: svg ? svg.querySelectorAll('.req.fail').length : -1,
          eventLines: svg ? svg.querySelectorAll('g.event line').length : -1,
          windows: svg ? svg.querySelectorAll('rect.window').length : -1,
          width: box?.width ?? 0,
          height: box?.height ?? 0,
        };
      });
    });
    await page.screenshot({ path: screenshot, fullPage: true });
    return found;
  } finally {
    await browser.close();
  }
}
