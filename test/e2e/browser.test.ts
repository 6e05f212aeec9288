/**
 * End to end in a real browser: Debian's Chromium, driven by playwright-core, opens
 * the sandbox's repository page and reads the panel inside the iframe. Saves the
 * screenshot that README.md shows.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Browser, chromium } from 'playwright-core';
import { startBitbucketSimulator, BitbucketSimulator } from '../../src/sandbox/bitbucket-simulator';
import { startDockerHubSimulator, DockerHubSimulator } from '../../src/sandbox/docker-hub-simulator';
import { startAddon, TestAddon } from '../helpers/addon';
import { requireOrSkip } from '../helpers/services';

const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOT_PATH = path.join(__dirname, '..', '..', 'docs', 'images', 'panel.png');
const chromiumInstalled = fs.existsSync(CHROMIUM_PATH);
const describeWithChromium = requireOrSkip(
  chromiumInstalled,
  `Chromium not found at ${CHROMIUM_PATH}; install Debian's chromium package (apt-get install chromium) or set CHROMIUM_PATH`,
);

describeWithChromium('panel in a browser', () => {
  let hub: DockerHubSimulator;
  let addon: TestAddon;
  let bitbucket: BitbucketSimulator;
  let browser: Browser;

  beforeAll(async () => {
    hub = await startDockerHubSimulator();
    addon = await startAddon({ DOCKER_HUB_URL: hub.url });
    bitbucket = await startBitbucketSimulator({ addonBaseUrl: addon.baseUrl });
    await bitbucket.install('acme-ws');
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      // Background networking would try hosts outside loopback, which this machine cannot reach.
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await bitbucket?.close();
    await addon?.stop();
    await hub?.close();
  });

  test('panel shows stars and pulls', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(bitbucket.repositoryPageUrl('acme-ws', 'web-proxy'));
    const panel = page.frameLocator('iframe').locator('section.panel');

    await expect(panel.getAttribute('data-state')).resolves.toBe('ready');
    const stars = panel.locator('[data-stat="stars"] .count');
    const pulls = panel.locator('[data-stat="pulls"] .count');
    await expect(stars.textContent()).resolves.toBe('21.2k');
    await expect(stars.getAttribute('title')).resolves.toBe('21,244');
    await expect(pulls.textContent()).resolves.toBe('12.9B');
    await expect(pulls.getAttribute('title')).resolves.toBe('12,916,987,208');

    // Wait until the host page has resized the iframe to the panel's full height.
    const frame = page.frames().find((candidate) => candidate !== page.mainFrame())!;
    const contentHeight = await frame.evaluate(() => document.documentElement.scrollHeight);
    await page.waitForFunction(
      (expected) => (document.querySelector('iframe')?.getBoundingClientRect().height ?? 0) >= expected - 2,
      contentHeight,
      { timeout: 10_000 },
    );
    fs.mkdirSync(path.dirname(SCREENSHOT_PATH), { recursive: true });
    await page.screenshot({ path: SCREENSHOT_PATH, fullPage: true });
    expect(fs.statSync(SCREENSHOT_PATH).size).toBeGreaterThan(10_000);
  });

  test('iframe grows to panel height', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(bitbucket.repositoryPageUrl('acme-ws', 'web-proxy'));
    await page.frameLocator('iframe').locator('section.panel[data-state="ready"]').waitFor();
    // The host script posts the content height; the page then resizes the iframe to it.
    await page.waitForFunction(() => (document.querySelector('iframe')?.getBoundingClientRect().height ?? 0) > 400, null, {
      timeout: 10_000,
    });
    const height = await page.evaluate(() => document.querySelector('iframe')!.getBoundingClientRect().height);
    expect(height).toBeGreaterThan(400);
  });

  test('disabled repository shows one line', async () => {
    const page = await browser.newPage();
    await page.goto(bitbucket.repositoryPageUrl('acme-ws', 'widget-api'));
    const panel = page.frameLocator('iframe').locator('section.panel');
    await expect(panel.getAttribute('data-state')).resolves.toBe('disabled');
    await expect(panel.locator('.notice').count()).resolves.toBe(1);
    await expect(panel.textContent()).resolves.toContain('.docker-repository.yml');
  });
});
