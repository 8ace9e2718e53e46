/**
 * Unit tests (`*.unit.test.ts`) run without services. Helpers that need MariaDB, Redis or a child
 * process call this first, so such a test fails at once with the reason.
 */
export function assertServicesAllowed(what: string): void {
  if (process.env.WWP_TEST_PROJECT === 'unit') {
    throw new Error(`${what} needs services, which unit tests (*.unit.test.ts) do not have: name the file *.test.ts (integration)`);
  }
}
