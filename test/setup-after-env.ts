import { killSpawned } from './helpers/processes';

// Unit tests are pure: seconds, not the minute integration tests may need.
if (process.env.WWP_TEST_PROJECT === 'unit') jest.setTimeout(10_000);

// Whatever child process a test file started and did not stop (a failed test, an early throw) is
// killed when the file ends, so no role or fixture outlives its test file.
afterAll(() => killSpawned());
