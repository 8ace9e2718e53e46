import { judgeReplica } from '../../src/domain/replica-state';

const running = { Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes', Seconds_Behind_Master: 0 };

test('a running replica within the threshold serves reads, one past it is lagging', () => {
  expect(judgeReplica(running, 10)).toEqual({ state: 'ok', lagSeconds: 0 });
  expect(judgeReplica({ ...running, Seconds_Behind_Master: '10' }, 10)).toEqual({ state: 'ok', lagSeconds: 10 });
  expect(judgeReplica({ ...running, Seconds_Behind_Master: 11 }, 10)).toEqual({ state: 'lagging', lagSeconds: 11 });
});

test('a stopped thread, an unknown lag or no replication at all is down, with the reason', () => {
  expect(judgeReplica(undefined, 10)).toMatchObject({ state: 'down', reason: expect.stringContaining('not a replica') });
  expect(judgeReplica({ ...running, Slave_SQL_Running: 'No', Last_SQL_Error: 'Duplicate entry' }, 10)).toMatchObject({
    state: 'down',
    reason: 'replication SQL thread No: Duplicate entry',
  });
  expect(judgeReplica({ ...running, Slave_IO_Running: 'Connecting' }, 10)).toMatchObject({ state: 'down', reason: expect.stringContaining('IO thread Connecting') });
  expect(judgeReplica({ ...running, Seconds_Behind_Master: null }, 10)).toMatchObject({ state: 'down', lagSeconds: null });
});

test('a delayed replica holding an event back is as far behind as that event is old, even when Seconds_Behind_Master says 0', () => {
  const delayed = { ...running, SQL_Delay: 6 };
  // Waiting 2 more seconds to apply an event written 4 s ago.
  expect(judgeReplica({ ...delayed, SQL_Remaining_Delay: 2 }, 2)).toEqual({ state: 'lagging', lagSeconds: 4 });
  expect(judgeReplica({ ...delayed, SQL_Remaining_Delay: 5 }, 2)).toEqual({ state: 'ok', lagSeconds: 1 });
  // No event held back: Seconds_Behind_Master decides, as before.
  expect(judgeReplica({ ...delayed, SQL_Remaining_Delay: null }, 2)).toEqual({ state: 'ok', lagSeconds: 0 });
  expect(judgeReplica({ ...delayed, SQL_Remaining_Delay: null, Seconds_Behind_Master: 3 }, 2)).toEqual({ state: 'lagging', lagSeconds: 3 });
});
