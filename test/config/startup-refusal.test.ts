import { PROCESS_TEST_TIMEOUT_MS, START_TIMEOUT_MS, spawnRole } from '../helpers/processes';
import { within } from '../helpers/wait';

test('the process stops at start-up with one clear line naming the variable', async () => {
  const proc = spawnRole({ role: 'all', env: { DB_PORT: 'not-a-port', DOTENV_CONFIG_PATH: '/nonexistent' } });
  const exit = await within(proc.exited, 'the entry point to refuse the configuration and exit', START_TIMEOUT_MS);
  expect(exit).toEqual({ code: 78, signal: null });
  expect(proc.output().trim().split('\n')).toEqual(['invalid configuration: DB_PORT: Expected number, received nan']);
}, PROCESS_TEST_TIMEOUT_MS);
