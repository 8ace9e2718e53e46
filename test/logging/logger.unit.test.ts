import { chooseLogFormat } from '../../src/logger';

/** Which format a process logs in: readable at a developer's terminal, JSON lines everywhere else. */
const installed = () => true;
const missing = () => false;

test.each([
  // NODE_ENV, LOG_FORMAT, stdout a terminal → format, with pino-pretty installed or not
  ['development', undefined, true, 'pretty', installed],
  [undefined, undefined, true, 'pretty', installed],
  ['development', undefined, false, 'json', installed],
  ['production', undefined, true, 'json', installed],
  ['test', undefined, true, 'json', installed],
  ['development', 'json', true, 'json', installed],
  ['production', 'pretty', false, 'pretty', installed],
  ['development', undefined, true, 'json', missing],
  ['production', 'pretty', true, 'json', missing],
] as const)('NODE_ENV=%s LOG_FORMAT=%s tty=%s → %s', (nodeEnv, logFormat, isTTY, expected, prettyInstalled) => {
  expect(chooseLogFormat({ nodeEnv, logFormat, isTTY, prettyInstalled })).toBe(expected);
});

test('production with auto never looks for pino-pretty', () => {
  const look = jest.fn(() => true);
  expect(chooseLogFormat({ nodeEnv: 'production', isTTY: true, prettyInstalled: look })).toBe('json');
  expect(chooseLogFormat({ nodeEnv: 'production', isTTY: false, prettyInstalled: look })).toBe('json');
  expect(look).not.toHaveBeenCalled();
});
