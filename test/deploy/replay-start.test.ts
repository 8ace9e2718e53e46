import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { replayDockerfile, runCollect } from './dockerfile';

/** The replayed image starts the way the image would: a file its Dockerfile forgot is missing at start. */
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'wwp-replay-start-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const write = (path: string, text: string) => {
  mkdirSync(join(dir, path, '..'), { recursive: true });
  writeFileSync(join(dir, path), text);
};

test('a file the Dockerfile forgets to copy fails the replayed image at start', async () => {
  write('Dockerfile', 'FROM node:20-bookworm-slim\nWORKDIR /app\nCOPY main.js ./\nCMD ["node", "main.js"]\n');
  write('main.js', "require('./helper');\n");
  write('helper.js', '');
  const image = await replayDockerfile({ context: dir, workDir: join(dir, 'replay') });
  const run = await runCollect(image.cmd!.argv, { cwd: join(image.root, image.workdir), env: { PATH: process.env.PATH ?? '' } });
  expect(run.code).not.toBe(0);
  expect(run.output).toContain("Cannot find module './helper'");
});
