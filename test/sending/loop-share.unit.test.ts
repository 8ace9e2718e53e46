import { shareLoop } from '../../src/sending/loop-share';

/** Bulk work pauses after a step when the event loop has been late, and the pause is bounded by the step. */
const busy = (ms: number) => {
  const until = Date.now() + ms;
  while (Date.now() < until);
};
const tick = () => new Promise((r) => setTimeout(r, 30));

test('after a late event loop, a step of bulk work is followed by a pause about as long as the step', async () => {
  await shareLoop(0); // starts monitoring
  await tick();
  busy(250); // the loop is late by ~250 ms
  await tick(); // the monitor's timer records the lateness
  const t0 = performance.now();
  await shareLoop(60);
  expect(performance.now() - t0).toBeGreaterThanOrEqual(55);
});
