import { randomBytes } from 'node:crypto';
import {
  computeSignature,
  decryptMessage,
  decryptPostedXml,
  encryptMessage,
  encryptToXml,
  pkcs7Pad,
  verifyUrl,
  WxBizMsgCryptError,
  type WxBizConfig,
} from '../../src/callbacks/wxbizmsgcrypt';

const codeOf = (fn: () => unknown): number | undefined => {
  try {
    fn();
  } catch (err) {
    if (err instanceof WxBizMsgCryptError) return err.code;
    throw err;
  }
  return undefined;
};

const newAesKey = () => randomBytes(32).toString('base64').slice(0, 43);

describe('WXBizMsgCrypt', () => {
  // The URL-verification sample published in WeCom's callback documentation.
  const official: WxBizConfig = { token: 'QDG6eK', encodingAesKey: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C', receiveId: 'wx5823bf96d3bd56c7' };
  const officialEcho = 'P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==';

  test("verifies and decrypts WeCom's published URL-verification sample", () => {
    expect(verifyUrl(official, '5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3', '1409659589', '263014780', officialEcho)).toBe('1616140317555161061');
  });

  test('signature is SHA1 over the sorted parts', () => {
    expect(computeSignature('QDG6eK', '1409659589', '263014780', officialEcho)).toBe('5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3');
    expect(computeSignature('b', 'a', 'd', 'c')).toBe(computeSignature('a', 'b', 'c', 'd'));
  });

  test('PKCS#7 pads to 32-byte blocks (a full block of 32 when already aligned)', () => {
    expect(pkcs7Pad(Buffer.alloc(5)).subarray(5)).toEqual(Buffer.alloc(27, 27));
    expect(pkcs7Pad(Buffer.alloc(32))).toHaveLength(64);
    expect(pkcs7Pad(Buffer.alloc(32))[63]).toBe(32);
  });

  test('encrypt → decrypt round trips, for any length and non-ASCII text', () => {
    const cfg: WxBizConfig = { token: 'tok123', encodingAesKey: newAesKey(), receiveId: 'ww-corp-1' };
    for (const msg of ['', 'x', '企业微信回调消息', 'a'.repeat(12), 'b'.repeat(1000), '<xml><Content><![CDATA[hi]]></Content></xml>']) {
      expect(decryptMessage(cfg.encodingAesKey, encryptMessage(cfg.encodingAesKey, msg, cfg.receiveId), cfg.receiveId)).toBe(msg);
      const { xml, signature } = encryptToXml(cfg, msg, '1700000000', 'n0nce');
      expect(decryptPostedXml(cfg, signature, '1700000000', 'n0nce', xml)).toBe(msg);
    }
    // Random prefix: the same message never encrypts the same way twice.
    expect(encryptMessage(cfg.encodingAesKey, 'same', 'c')).not.toBe(encryptMessage(cfg.encodingAesKey, 'same', 'c'));
  });

  test('refuses with WeCom error codes: signature, corp id, AES key, base64, ciphertext, XML', () => {
    const cfg: WxBizConfig = { token: 'tok', encodingAesKey: newAesKey(), receiveId: 'corp-a' };
    const { xml, signature } = encryptToXml(cfg, 'hello', '1700000000', 'n');
    expect(codeOf(() => decryptPostedXml(cfg, 'f'.repeat(40), '1700000000', 'n', xml))).toBe(-40001);
    expect(codeOf(() => decryptPostedXml(cfg, signature, '1700000001', 'n', xml))).toBe(-40001);
    expect(codeOf(() => decryptPostedXml({ ...cfg, receiveId: 'corp-b' }, signature, '1700000000', 'n', xml))).toBe(-40005);
    expect(codeOf(() => decryptMessage('too-short', 'AAAA', 'x'))).toBe(-40004);
    expect(codeOf(() => encryptMessage('!'.repeat(43), 'm', 'x'))).toBe(-40004);
    expect(codeOf(() => decryptMessage(cfg.encodingAesKey, 'not base64 at all!', 'corp-a'))).toBe(-40010);
    expect(codeOf(() => decryptMessage(cfg.encodingAesKey, 'AAAA', 'corp-a'))).toBe(-40007);
    // Decrypting with another key yields garbage: bad padding / length or a wrong corp id, never a message.
    const other = encryptMessage(newAesKey(), 'secret', 'corp-a');
    expect([-40005, -40007, -40008]).toContain(codeOf(() => decryptMessage(cfg.encodingAesKey, other, 'corp-a')));
    expect(codeOf(() => decryptPostedXml(cfg, signature, '1700000000', 'n', '<xml><Encrypt>'))).toBe(-40002);
    expect(codeOf(() => decryptPostedXml(cfg, signature, '1700000000', 'n', '<xml><Other>1</Other></xml>'))).toBe(-40002);
  });
});
