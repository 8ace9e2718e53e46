import type { Page, Request } from 'playwright-core';
import { loadavg } from 'node:os';
import { insertTemplate } from '../../src/db/templates';
import { http } from '../helpers/http';
import { seedFinishedTask } from '../helpers/console-seed';
import { startConsoleStack, type ConsoleStack } from '../helpers/console-stack';
import { pickOption } from '../helpers/console-page';
import { sleep, waitFor } from '../helpers/wait';

/**
 * The console on a campaign of 100,000 recipients in real Chromium: the task's recipient table and the
 * messages list page forward and filter by status through the server's keyset pages, and the page
 * holds one page of rows, never the task. Live progress events re-read those lists a bounded number of
 * times, however many arrive. Timings are printed (with the load average), never asserted.
 */
const RECIPIENTS = 100_000;
/** More templates than the pickers' first pages (50) and than the 200 they once loaded. */
const TEMPLATES = 260;
const templateName = (i: number) => `tpl-${String(i).padStart(3, '0')}`;
const FAIL_EVERY = 10;
let stack: ConsoleStack;
let page: Page;
let taskId = '';

jest.setTimeout(180_000);

const load = () => loadavg().map((n) => n.toFixed(2)).join(' ');
const timings: string[] = [];
async function timed<T>(what: string, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const value = await run();
  timings.push(`${what}: ${Math.round(performance.now() - started)} ms (load ${load()})`);
  return value;
}

beforeAll(async () => {
  stack = await startConsoleStack('consolescale', {
    seed: async (env, tenant) => {
      taskId = (await timed(`seed ${RECIPIENTS} recipients`, () => seedFinishedTask(env.ctx.db, tenant.tenantId, tenant.adminId, { count: RECIPIENTS, failEvery: FAIL_EVERY }))).taskId;
      for (let i = 0; i < TEMPLATES; i++) await insertTemplate(env.ctx.db, tenant.tenantId, tenant.adminId, { template_name: templateName(i), template_type: 'text', template_content: { type: 'text', text: `offer ${i}` } });
    },
  });
  page = stack.page;
}, 400_000);
afterAll(async () => {
  console.log(`[console-scale] ${RECIPIENTS} recipients:\n${timings.join('\n')}`);
  await stack?.close();
});

const rowsOf = (testId: string) => stack.rowsOf(testId);
const firstCells = (testId: string, column: number) => rowsOf(testId).locator(`td:nth-child(${column})`).allInnerTexts();
/** Waits until the table shows a page whose first row is `conversation` and returns its rows' conversations. */
const pageStartingAt = (testId: string, column: number, conversation: string) =>
  waitFor(() => firstCells(testId, column), `${testId} showing a page from ${conversation}`, { until: (c) => c[0] === conversation });

test('campaign detail: the recipient table of 100,000 pages forward and filters by status, one page in the DOM', () =>
  stack.withPage(async () => {
    await timed('task detail: first recipient page shown', async () => {
      await stack.open(`/tasks/${taskId}`, 'task-detail');
      await pageStartingAt('recipients', 1, `conv-${RECIPIENTS - 1}`);
    });
    // Newest first: the first page is the last 20 recipients, the next one the 20 before them.
    expect(await firstCells('recipients', 1)).toEqual(Array.from({ length: 20 }, (_, i) => `conv-${RECIPIENTS - 1 - i}`));
    await timed('task detail: next page', async () => {
      await page.getByTestId('recipients-next').click();
      await pageStartingAt('recipients', 1, `conv-${RECIPIENTS - 21}`);
    });
    expect(await page.getByTestId('recipients-pager').getAttribute('data-page')).toBe('2');
    expect(await page.locator('tr[data-row-key]').count()).toBe(20);
    // The summary counts the whole task; the failed filter shows the failed ones only, newest first.
    await waitFor(() => page.getByTestId('recipient-filter').innerText(), 'the failed count in the filter', { until: (t) => t.includes(`失败 ${RECIPIENTS / FAIL_EVERY}`) });
    await timed('task detail: failed filter', async () => {
      await page.getByTestId('recipient-filter').getByText('失败').click();
      await pageStartingAt('recipients', 1, `conv-${RECIPIENTS - FAIL_EVERY}`);
    });
    expect(await firstCells('recipients', 1)).toEqual(Array.from({ length: 20 }, (_, i) => `conv-${RECIPIENTS - FAIL_EVERY * (i + 1)}`));
    expect(new Set(await firstCells('recipients', 3))).toEqual(new Set(['target_not_found']));
    await timed('task detail: failed, next page', async () => {
      await page.getByTestId('recipients-next').click();
      await pageStartingAt('recipients', 1, `conv-${RECIPIENTS - FAIL_EVERY * 21}`);
    });
    expect(await page.locator('tr[data-row-key]').count()).toBe(20);
  }));

test('messages: the list of 100,000 pages forward and filters by status, one page in the DOM', () =>
  stack.withPage(async () => {
    await timed('messages: first page shown', async () => {
      await stack.open('/messages', 'messages');
      await pageStartingAt('messages-table', 3, `conv-${RECIPIENTS - 1}`);
    });
    expect(await page.locator('tr[data-row-key]').count()).toBe(50);
    await timed('messages: next page', async () => {
      await page.getByTestId('messages-next').click();
      await pageStartingAt('messages-table', 3, `conv-${RECIPIENTS - 51}`);
    });
    await timed('messages: failed filter', async () => {
      await pickOption(page, 'messages-status', '失败');
      await pageStartingAt('messages-table', 3, `conv-${RECIPIENTS - FAIL_EVERY}`);
    });
    expect(await firstCells('messages-table', 3)).toEqual(Array.from({ length: 50 }, (_, i) => `conv-${RECIPIENTS - FAIL_EVERY * (i + 1)}`));
    await timed('messages: failed, next page', async () => {
      await page.getByTestId('messages-next').click();
      await pageStartingAt('messages-table', 3, `conv-${RECIPIENTS - FAIL_EVERY * 51}`);
    });
    expect(await page.locator('tr[data-row-key]').count()).toBe(50);
  }));

/**
 * A burst of progress events (40 in 2 s, as a busy campaign sends) re-reads a list on screen at most
 * once a second: the first event at once, the rest coalesced. Without the throttle each event costs a
 * page query, 40 here.
 */
const BURST = 40;
const BURST_GAP_MS = 50;
const maxReads = Math.ceil((BURST * BURST_GAP_MS) / 1000) + 2;
test.each([
  ['messages', '/messages', 'messages', /\/api\/v1\/messages\?/],
  ['campaign detail', '', 'task-detail', /\/api\/v1\/tasks\/[^/]+\/recipients\?/],
])('%s: a burst of task.progress events re-reads the list at most once a second', (_name, path, testId, listUrl) =>
  stack.withPage(async () => {
    await stack.open(path || `/tasks/${taskId}`, testId);
    await waitFor(() => page.getByTestId('live-indicator').getAttribute('data-connected'), 'the live connection', { until: (c) => c === 'true' });
    const progress = (await http('GET', `${stack.env.url}/api/v1/tasks/${taskId}/progress`, { token: stack.tenant.adminToken })).body;
    expect(progress).toMatchObject({ task_id: taskId });
    // Settle: the page's own first reads are done before the count starts.
    await page.waitForLoadState('networkidle');
    const reads: string[] = [];
    const onRequest = (r: Request) => {
      if (r.method() === 'GET' && listUrl.test(r.url())) reads.push(r.url());
    };
    page.on('request', onRequest);
    try {
      for (let i = 0; i < BURST; i++) {
        stack.env.ctx.realtime.toTenant(stack.tenant.tenantId, 'task.progress', progress);
        await sleep(BURST_GAP_MS);
      }
      await waitFor(() => reads.length, 'the list re-read after the burst');
      // The trailing read of the burst comes at most a second after its last event.
      await sleep(1500);
    } finally {
      page.off('request', onRequest);
    }
    timings.push(`${_name}: ${BURST} progress events in ${(BURST * BURST_GAP_MS) / 1000} s → ${reads.length} list reads (load ${load()})`);
    expect(reads.length).toBeGreaterThanOrEqual(1);
    expect(reads.length).toBeLessThanOrEqual(maxReads);
  }),
);

test('template picker (single send): searched on the server as the operator types, once per pause; scrolled, it loads the next page', () =>
  stack.withPage(async () => {
    await stack.open('/messages', 'messages');
    await page.getByTestId('message-send').click();
    await page.getByLabel('使用模板').check();
    const searches: URL[] = [];
    const onRequest = (r: Request) => {
      const url = new URL(r.url());
      if (r.method() === 'GET' && url.pathname === '/api/v1/templates') searches.push(url);
    };
    page.on('request', onRequest);
    try {
      const picker = page.getByTestId('message-template');
      await picker.click();
      // Newest first: the first page is tpl-259 … tpl-210; scrolled to its end, the next page follows.
      const options = page.locator('.ant-select-dropdown:visible .ant-select-item-option');
      await waitFor(() => options.first().innerText(), 'the first page of templates', { until: (t) => t === templateName(TEMPLATES - 1) });
      await waitFor(
        async () => {
          await page.locator('.ant-select-dropdown:visible .ant-select-item-option').last().hover();
          await page.mouse.wheel(0, 4000);
          return searches.filter((u) => u.searchParams.has('cursor')).length;
        },
        'the next page asked for with its cursor',
        { intervalMs: 300 },
      );
      // The list is virtual (only the options in view are in the DOM): scrolled on, it shows the second page's.
      await waitFor(
        async () => {
          await page.mouse.wheel(0, 4000);
          return options.allInnerTexts();
        },
        'options of the second page shown',
        { until: (texts) => texts.some((t) => Number(t.slice(4)) < TEMPLATES - 50), intervalMs: 300 },
      );
      // tpl-007 is far beyond the first pages: typed, the server finds it.
      const before = searches.length;
      await page.keyboard.type(templateName(7), { delay: 40 });
      await waitFor(() => options.allInnerTexts(), `${templateName(7)} found by the server`, { until: (t) => t.length === 1 && t[0] === templateName(7) });
      await page.keyboard.press('Enter');
      await waitFor(() => picker.innerText(), `${templateName(7)} picked`, { until: (t) => t.includes(templateName(7)) });
      const typed = searches.slice(before);
      timings.push(`template picker: ${templateName(7).length} keys typed → ${typed.length} searches (load ${load()})`);
      expect(typed.map((u) => u.searchParams.get('q'))).toContain(templateName(7));
      // Debounced: seven keys 40 ms apart are one search (two if the machine stalls mid-word), not seven.
      expect(typed.length).toBeLessThanOrEqual(2);
      expect(typed.every((u) => u.searchParams.get('is_active') === 'true')).toBe(true);
    } finally {
      page.off('request', onRequest);
    }
  }));
