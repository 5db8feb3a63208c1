// The dashboard in a real browser (Debian's Chromium, headless, driven by playwright-core from
// tools/npm) against the three nodes test_browser.py started. Each check prints "ok NAME" or
// throws; screenshots of every view go to $SHOTS. Environment: DASH_URL, BROKER_PORT, SYSTEM,
// KILL_PID (the node to kill), REFUSAL (what `psos conf` said to the refused value), CHECK_ERRORS
// (what `psos check broken.json` said), SHOTS, TOOLS.
'use strict';
const path = require('path');
const { execFileSync } = require('child_process');
const { chromium } = require(path.join(process.env.TOOLS, 'node_modules', 'playwright-core'));

const URL = process.env.DASH_URL;
const SYSTEM = process.env.SYSTEM;
const SHOTS = process.env.SHOTS;

function ok(name) { console.log('ok ' + name); }
// The whole page in one picture: the viewport grown to the page (a full-page capture would
// repeat the sticky header), then put back.
async function shoot(page, name) {
  const size = page.viewportSize();
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  await page.setViewportSize({ width: size.width, height: Math.min(Math.max(height, size.height), 4000) });
  await page.waitForTimeout(300);
  await page.screenshot({ path: path.join(SHOTS, name) });
  await page.setViewportSize(size);
}
function fail(message) { throw new Error(message); }

async function main() {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

    // The map: three nodes ready, the expected edges.
    await page.goto(URL + '/#/map');
    for (const n of ['gw', 'e01', 'e02'])
      await page.locator(`.map-node[data-node="${SYSTEM}/${n}"][data-state="ready"]`).waitFor({ timeout: 10000 });
    const edges = await page.$$eval('path.edge', (ps) => ps.map((p) => `${p.dataset.from} -> ${p.dataset.to} via ${p.dataset.topic}`).sort());
    const expected = [
      `${SYSTEM}/e01/tick -> ${SYSTEM}/e02/fmt via fleet/tick`,
      `${SYSTEM}/e01/tick -> ${SYSTEM}/gw/agg via fleet/tick`,
      `${SYSTEM}/e02/fmt -> ${SYSTEM}/e02/lcd via local/e02/lcd`,
      `${SYSTEM}/gw/agg -> ${SYSTEM}/gw/echo via fleet/mean`,
    ];
    if (JSON.stringify(edges) !== JSON.stringify(expected)) fail('edges:\n' + edges.join('\n') + '\nexpected:\n' + expected.join('\n'));
    if (await page.locator('path.edge.local').count() !== 1) fail('the local/ edge is not drawn as local');
    ok('map shows three nodes ready and the expected edges');
    await page.waitForTimeout(1200); // the rates of a second are in
    await shoot(page, 'map.png');

    // Topics: a message published with mosquitto_pub is in the tree within a second.
    await page.goto(URL + '/#/topics');
    await page.fill('#topic-filter', 'dash/');
    const started = Date.now();
    execFileSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', process.env.BROKER_PORT, '-t', 'dash/room/climate', '-r', '-m', '{"temp": 21.5, "hum": 40}']);
    await page.locator('.tree [data-topic="dash/room/climate"]').waitFor({ timeout: 1000 });
    const latency = Date.now() - started;
    ok(`mosquitto_pub's message in the topic tree after ${latency} ms`);
    await page.click('.tree [data-topic="dash/room/climate"]');
    await page.locator('#detail-topic', { hasText: 'dash/room/climate' }).waitFor();
    if ((await page.textContent('#detail-retained')) !== 'yes') fail('retained flag not shown');
    const payload = await page.textContent('#detail-payload');
    if (payload !== JSON.stringify({ temp: 21.5, hum: 40 }, null, 2)) fail('payload shown as ' + payload);
    for (let i = 0; i < 5; i++) {
      execFileSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', process.env.BROKER_PORT, '-t', 'dash/room/climate', '-r', '-m', JSON.stringify({ temp: 21 + i, hum: 40 - i })]);
      await page.waitForTimeout(300);
    }
    const points = Number(await page.getAttribute('svg.spark', 'data-points'));
    if (points < 4) fail(`sparkline has ${points} points`);
    ok('topic detail: pretty JSON, retained flag, sparkline');
    // The publish form.
    await page.fill('#publish input[name=topic]', 'dash/from/page');
    await page.fill('#publish textarea[name=payload]', 'hello');
    await page.click('#publish button[type=submit]');
    await page.fill('#topic-filter', 'dash/from');
    await page.locator('.tree [data-topic="dash/from/page"]').waitFor({ timeout: 3000 });
    ok('publish form');
    await page.fill('#topic-filter', '');
    await shoot(page, 'topics.png');

    // A node: restart a service from its services table.
    await page.goto(URL + `/#/node/${SYSTEM}/gw`);
    const row = page.locator('#services tr[data-service="echo"]');
    await row.waitFor();
    const before = Number(await row.locator('[data-field=restarts]').textContent());
    await row.locator('button[data-op=restart]').click();
    await page.locator(`#services tr[data-service="echo"] [data-field=restarts]`, { hasText: String(before + 1) }).waitFor({ timeout: 10000 });
    await page.locator('#services tr[data-service="echo"] [data-field=status]', { hasText: 'running' }).waitFor({ timeout: 10000 });
    ok('restart from the node view shows in restarts');

    // The conf editor: a refused value shows the spec's message.
    await page.goto(URL + `/#/node/${SYSTEM}/e01`);
    const conf = page.locator('#conf tr[data-param="tick.every"]');
    await conf.waitFor({ timeout: 10000 });
    await conf.locator('input').fill('"soon"');
    await conf.locator('button', { hasText: 'set' }).click();
    await conf.locator('.conf-msg.error-text').waitFor({ timeout: 10000 });
    const refusal = await conf.locator('.conf-msg').textContent();
    if (!process.env.REFUSAL.includes(refusal)) fail(`conf refusal shown as "${refusal}", psos conf says "${process.env.REFUSAL}"`);
    ok('conf value refused with the spec\'s message');
    // A function called from its form.
    await page.locator('[data-function="tick.status"] button[type=submit]').click();
    await page.waitForFunction(() => {
      const pre = document.querySelector('[data-function="tick.status"] pre');
      return pre && pre.textContent.startsWith('{') && !pre.classList.contains('error-text');
    }, null, { timeout: 10000 });
    ok('function call form');
    await page.locator('[data-chart="CPU"] polyline').waitFor({ timeout: 10000 });
    await shoot(page, 'node.png');

    // Deploy: the definitions listed, psos check's messages for an invalid one, the diff of a
    // changed parameter, a deploy with its progress and results, the node's $info changed.
    await page.goto(URL + '/#/deploy');
    await page.locator('#deploy-files [data-file="system.json"]').waitFor({ timeout: 10000 });
    const files = await page.$$eval('#deploy-files [data-file]', (ls) => ls.map((l) => l.dataset.file));
    if (JSON.stringify(files) !== JSON.stringify(['broken.json', 'failing.json', 'system.json'])) fail('definitions listed: ' + files.join(', '));
    ok('the deploy view lists the definition files');
    await page.click('#deploy-files [data-file="broken.json"]');
    await page.locator('#deploy-diagnostics').waitFor({ timeout: 10000 });
    const diagnostics = await page.textContent('#deploy-diagnostics');
    if (diagnostics !== process.env.CHECK_ERRORS) fail(`check's messages shown as\n${diagnostics}\npsos check says\n${process.env.CHECK_ERRORS}`);
    ok('an invalid definition shows psos check\'s messages');
    const outside = await page.evaluate(() => send({ type: 'deploy.plan', file: '../system.json' }));
    if (outside.ok || outside.error.code !== 'not_found') fail('a path outside the directory: ' + JSON.stringify(outside));
    ok('a file outside the definitions directory is refused');
    await page.click('#deploy-files [data-file="system.json"]');
    const pub = page.locator('#deploy-plan [data-node="gw"] [data-service="echo"] [data-param="pub"]');
    await pub.waitFor({ timeout: 15000 });
    const shownDiff = [await pub.locator('.before').textContent(), await pub.locator('.after').textContent()];
    if (shownDiff.join(' -> ') !== 'fleet/out -> fleet/out2') fail('echo.pub shown as ' + shownDiff.join(' -> '));
    const revision = await page.textContent('#deploy-plan [data-node="gw"] [data-field=revision]');
    if (revision !== 'revision 0 → 1') fail('gw\'s revision shown as ' + revision);
    for (const n of ['e01', 'e02'])
      if (!(await page.textContent(`#deploy-plan [data-node="${n}"] .changes`)).includes('nothing changes')) fail(n + ' should not change');
    ok('the diff shows the changed parameter with its values');
    await shoot(page, 'deploy.png');
    await page.fill('#deploy-confirm', '2');
    await page.click('#deploy-button');
    await page.locator('#deploy-progress .bar-row[data-node="gw"]').waitFor({ timeout: 10000 });
    // A second deploy while the first one runs (its confirm window is 2 s) is refused.
    const second = await page.evaluate(() => send({ type: 'deploy.start', file: 'system.json', sha256: S.deploy.plan.sha256, nodes: [], confirm: 0 }));
    if (second.ok || second.error.code !== 'busy' || !second.error.message.startsWith('a deploy is running')) fail('a second deploy: ' + JSON.stringify(second));
    ok('a second deploy is refused while one runs');
    await page.locator('#deploy-results tr[data-node="gw"]').waitFor({ timeout: 30000 });
    const results = await page.$$eval('#deploy-results tbody tr', (rows) => rows.map((r) =>
      [r.dataset.node, ...['revision', 'restarted', 'result'].map((f) => r.querySelector(`[data-field=${f}]`).textContent)].join(' | ')));
    const expectedResults = ['gw | 0 → 1 | echo | committed', 'e01 | 0 → 1 | - | committed', 'e02 | 0 → 1 | - | committed'];
    if (JSON.stringify(results) !== JSON.stringify(expectedResults)) fail('results:\n' + results.join('\n'));
    const phases = await page.$$eval('#deploy-progress .bar-row', (rows) => rows.map((r) => r.dataset.phase + ' ' + r.querySelector('.fill').style.width));
    if (phases.some((p) => p !== 'done 100%')) fail('progress: ' + phases.join(', '));
    ok('the deploy\'s progress reaches done and the results show the new revision');
    // Done: the changes are worked out again against what the nodes run now.
    await page.locator('#deploy-plan [data-node="gw"] [data-field=revision]', { hasText: 'revision 1 → 2' }).waitFor({ timeout: 10000 });
    await shoot(page, 'deploy-done.png');
    // A deploy to e01 alone whose new service fails at start: rolled back, shown red with the
    // node's message.
    await page.click('#deploy-files [data-file="failing.json"]');
    await page.locator('#deploy-plan [data-node="e01"] [data-service="bad"]').waitFor({ timeout: 15000 });
    for (const n of ['gw', 'e02']) await page.uncheck(`#deploy-plan [data-node="${n}"] input[name=node]`);
    await page.fill('#deploy-confirm', '1');
    const firstStarted = await page.evaluate(() => S.deploy.status.started);
    await page.click('#deploy-button');
    await page.waitForFunction((t) => S.deploy.status.started !== t && !S.deploy.status.running, firstStarted, { timeout: 30000 });
    await page.locator('#deploy-results tr.failed[data-node="e01"]').waitFor({ timeout: 5000 });
    if (await page.locator('#deploy-results tbody tr').count() !== 1) fail('the rollback deploy went to more than e01');
    const rolled = await page.textContent('#deploy-results tr[data-node="e01"] [data-field=result]');
    if (!/^rolled back: service bad failed: .*boom at start.*revision 2 rolled back, revision 1 runs/.test(rolled)) fail('rollback shown as ' + rolled);
    if ((await page.textContent('#deploy-results tr[data-node="e01"] [data-field=revision]')) !== '1 → 1') fail('a rolled back revision should stay 1');
    ok('a deploy that rolls back is shown red with the node\'s message');
    await shoot(page, 'deploy-rollback.png');
    await page.goto(URL + `/#/node/${SYSTEM}/gw`);
    await page.locator('#services tr[data-service="echo"] td', { hasText: 'fleet/out2' }).waitFor({ timeout: 10000 });
    ok('the node\'s $info shows the change');

    // A phone-sized screen.
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
    await phone.goto(URL + '/#/map');
    await phone.locator(`.map-node[data-node="${SYSTEM}/gw"]`).waitFor();
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 0) fail(`the map is ${overflow} px wider than a phone`);
    await shoot(phone, 'phone-map.png');
    await phone.goto(URL + `/#/node/${SYSTEM}/gw`);
    await phone.locator('#services tr[data-service="echo"]').waitFor();
    await shoot(phone, 'phone-node.png');
    await phone.goto(URL + '/#/deploy');
    await phone.click('#deploy-files [data-file="system.json"]');
    await phone.locator('#deploy-plan [data-node="gw"] [data-field=revision]').waitFor({ timeout: 10000 });
    await phone.locator('#deploy-results tr[data-node="e01"]').waitFor(); // the last deploy: e01's rollback
    const deployOverflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (deployOverflow > 0) fail(`the deploy view is ${deployOverflow} px wider than a phone`);
    await shoot(phone, 'phone-deploy.png');
    ok('phone-sized screen');

    // A node killed turns lost on the map.
    await page.goto(URL + '/#/map');
    await page.locator(`.map-node[data-node="${SYSTEM}/e02"][data-state="ready"]`).waitFor();
    process.kill(Number(process.env.KILL_PID), 'SIGKILL');
    await page.locator(`.map-node[data-node="${SYSTEM}/e02"][data-state="lost"]`).waitFor({ timeout: 10000 });
    ok('a node killed turns lost on the map');
    await shoot(page, 'map-lost.png');

    if (errors.length) fail('errors in the page:\n' + errors.join('\n'));
    ok('no error in the page');
  } finally {
    await browser.close();
  }
}

main().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
