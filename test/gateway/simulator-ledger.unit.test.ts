import { CallbackSender } from '../../src/gateway/simulator/callback-sender';
import { SimulatorEngine } from '../../src/gateway/simulator/engine';
import { DeliveryLedger, entryKeyOf, messageIdFor, namesOf } from '../../src/gateway/simulator/ledger';

/**
 * The simulator's ledger: one packed entry per delivered message, found by idempotency key (the
 * exactly-once checks) and by gateway message id (the status query), bounded by its key cap.
 */
describe('DeliveryLedger', () => {
  test('a message is found by its key and by its gateway message id; receipts set its state and time', () => {
    const ledger = new DeliveryLedger();
    const names = namesOf('msg-1');
    expect(names.messageId).toBe(messageIdFor('msg-1'));
    expect(names.messageId).toMatch(/^sim-msg-[0-9a-f]{24}$/);
    expect(entryKeyOf(names.messageId)).toBe(names.entryKey);

    expect(ledger.deliveriesOf('msg-1')).toBe(0);
    expect(ledger.outcomeOf(names.messageId)).toBeUndefined();
    ledger.recordDelivery(names.entryKey, 7);
    expect(ledger.deliveriesOf('msg-1')).toBe(1);
    expect(ledger.outcomeOf(names.messageId)).toEqual({ instanceNo: 7, status: 'sent' });
    ledger.recordReceipt(names.entryKey, 'failed', 1_767_000_000_123);
    expect(ledger.outcomeOf(names.messageId)).toEqual({ instanceNo: 7, status: 'failed', at: 1_767_000_000_123 });
    // Another instance number (up to the packing's 2^21) and the other state.
    const other = namesOf('msg-2');
    ledger.recordDelivery(other.entryKey, 2_000_000);
    ledger.recordReceipt(other.entryKey, 'delivered', 5);
    expect(ledger.outcomeOf(other.messageId)).toEqual({ instanceNo: 2_000_000, status: 'delivered', at: 5 });
    expect(ledger.summary()).toMatchObject({ total_deliveries: 2, unique_keys: 2, duplicate_deliveries: 0 });
  });

  test('a second delivery of a key counts as a duplicate and makes the message sent again', () => {
    const ledger = new DeliveryLedger();
    const { entryKey, messageId } = namesOf('twice');
    ledger.recordDelivery(entryKey, 1);
    ledger.recordReceipt(entryKey, 'delivered', 10);
    ledger.recordDelivery(entryKey, 2);
    expect(ledger.deliveriesOf('twice')).toBe(2);
    expect(ledger.outcomeOf(messageId)).toEqual({ instanceNo: 2, status: 'sent' });
    expect(ledger.summary()).toMatchObject({ total_deliveries: 2, unique_keys: 1, duplicate_deliveries: 1 });
  });

  test('ids this simulator never makes are unknown, not errors', () => {
    const ledger = new DeliveryLedger();
    ledger.recordDelivery(namesOf('k').entryKey, 1);
    for (const id of ['', 'sim-msg-never-sent-here', 'sim-msg-0123', `${messageIdFor('k')}0`, 'wx-123']) expect(ledger.outcomeOf(id)).toBeUndefined();
  });

  test('at the key cap the oldest message is evicted and counted; a late receipt does not bring it back', () => {
    const ledger = new DeliveryLedger(3);
    const names = ['a', 'b', 'c', 'd'].map(namesOf);
    for (const n of names) ledger.recordDelivery(n.entryKey, 1);
    expect(ledger.summary()).toMatchObject({ unique_keys: 3, evicted_keys: 1, total_deliveries: 4 });
    expect(ledger.deliveriesOf('a')).toBe(0);
    expect(ledger.deliveriesOf('d')).toBe(1);
    ledger.recordReceipt(names[0].entryKey, 'delivered', 1);
    expect(ledger.outcomeOf(names[0].messageId)).toBeUndefined();
    expect(ledger.summary().unique_keys).toBe(3);
    ledger.reset();
    expect(ledger.summary()).toEqual({ total_requests: 0, total_deliveries: 0, unique_keys: 0, duplicate_requests: 0, duplicate_deliveries: 0, evicted_keys: 0 });
  });
});

describe('SimulatorEngine status query', () => {
  const online = async (engine: SimulatorEngine) => {
    const { guid } = engine.createInstance();
    await engine.startLogin(guid);
    engine.scan(guid);
    engine.confirm(guid);
    return guid;
  };
  const text = (key: string) => ({ conversation_id: 'c-1', content: { type: 'text', text: 'hi' }, idempotency_key: key });

  test("answers a message's state to the instance that sent it, unknown to any other (a deleted guid's too)", async () => {
    const engine = new SimulatorEngine(new CallbackSender({ url: undefined, secret: 'unused' }), { receipt_delay_ms: 3_600_000 });
    try {
      const a = await online(engine);
      const b = await online(engine);
      const sent = engine.send(a, text('m-1'));
      expect(engine.send(a, text('m-1'))).toEqual({ message_id: sent.message_id, duplicate: true });
      expect(engine.messageStatuses(a, [sent.message_id, messageIdFor('never')])).toEqual([
        { message_id: sent.message_id, status: 'sent' },
        { message_id: messageIdFor('never'), status: 'unknown' },
      ]);
      expect(engine.messageStatuses(b, [sent.message_id])).toEqual([{ message_id: sent.message_id, status: 'unknown' }]);
      engine.deleteInstance(a);
      expect(engine.messageStatuses(a, [sent.message_id])).toEqual([{ message_id: sent.message_id, status: 'unknown' }]);
      expect(engine.ledger.summary()).toMatchObject({ total_requests: 2, total_deliveries: 1, duplicate_requests: 1 });
    } finally {
      engine.close();
    }
  });
});
