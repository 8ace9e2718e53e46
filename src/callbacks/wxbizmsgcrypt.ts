import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { XMLParser } from 'fast-xml-parser';

/**
 * WeCom's published callback crypto (WXBizMsgCrypt), pure functions:
 * - msg_signature = SHA1 of [token, timestamp, nonce, encrypt] sorted and concatenated;
 * - AES-256-CBC, key = base64decode(EncodingAESKey + "="), IV = first 16 bytes of the key,
 *   PKCS#7 padding to 32-byte blocks (not AES's 16);
 * - plaintext = 16 random bytes + 4-byte big-endian length + msg + receive_id (the corp id).
 * Error codes are WeCom's own, so logs and responses line up with its documentation.
 */
export const WXBIZ_ERRORS = {
  ValidateSignatureError: -40001,
  ParseXmlError: -40002,
  ComputeSignatureError: -40003,
  IllegalAesKey: -40004,
  ValidateCorpidError: -40005,
  EncryptAESError: -40006,
  DecryptAESError: -40007,
  IllegalBuffer: -40008,
  EncodeBase64Error: -40009,
  DecodeBase64Error: -40010,
  GenReturnXmlError: -40011,
} as const;

export type WxBizErrorCode = (typeof WXBIZ_ERRORS)[keyof typeof WXBIZ_ERRORS];

const MESSAGES: Record<WxBizErrorCode, string> = {
  [-40001]: 'validate signature error',
  [-40002]: 'parse xml error',
  [-40003]: 'compute signature error',
  [-40004]: 'illegal aes key',
  [-40005]: 'validate corpid error',
  [-40006]: 'encrypt aes error',
  [-40007]: 'decrypt aes error',
  [-40008]: 'illegal buffer',
  [-40009]: 'encode base64 error',
  [-40010]: 'decode base64 error',
  [-40011]: 'gen return xml error',
};

export class WxBizMsgCryptError extends Error {
  constructor(readonly code: WxBizErrorCode, detail?: string) {
    super(detail ? `${MESSAGES[code]}: ${detail}` : MESSAGES[code]);
    this.name = 'WxBizMsgCryptError';
  }
}

const BLOCK_SIZE = 32;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export interface WxBizConfig {
  token: string;
  encodingAesKey: string;
  /** Corp id (or suite id) expected at the end of every plaintext. */
  receiveId: string;
}

/** The 32-byte AES key from a 43-character EncodingAESKey, or -40004. */
export function aesKeyOf(encodingAesKey: string): Buffer {
  if (encodingAesKey.length !== 43 || !BASE64.test(`${encodingAesKey}=`)) {
    throw new WxBizMsgCryptError(WXBIZ_ERRORS.IllegalAesKey);
  }
  const key = Buffer.from(`${encodingAesKey}=`, 'base64');
  if (key.length !== 32) throw new WxBizMsgCryptError(WXBIZ_ERRORS.IllegalAesKey);
  return key;
}

export function isValidEncodingAesKey(value: string): boolean {
  try {
    aesKeyOf(value);
    return true;
  } catch {
    return false;
  }
}

/** msg_signature over the sorted parts (byte-wise ASCII order, as WeCom's samples sort). */
export function computeSignature(token: string, timestamp: string, nonce: string, encrypt: string): string {
  try {
    const parts = [token, timestamp, nonce, encrypt].sort();
    return createHash('sha1').update(parts.join('')).digest('hex');
  } catch (err) {
    throw new WxBizMsgCryptError(WXBIZ_ERRORS.ComputeSignatureError, (err as Error).message);
  }
}

function signatureMatches(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given.toLowerCase());
  return a.length === b.length && timingSafeEqual(a, b);
}

export function pkcs7Pad(data: Buffer): Buffer {
  const amount = BLOCK_SIZE - (data.length % BLOCK_SIZE);
  return Buffer.concat([data, Buffer.alloc(amount, amount)]);
}

export function pkcs7Unpad(data: Buffer): Buffer {
  if (data.length === 0) throw new WxBizMsgCryptError(WXBIZ_ERRORS.IllegalBuffer, 'empty plaintext');
  const pad = data[data.length - 1];
  if (pad < 1 || pad > BLOCK_SIZE || pad > data.length) {
    throw new WxBizMsgCryptError(WXBIZ_ERRORS.IllegalBuffer, 'bad padding');
  }
  return data.subarray(0, data.length - pad);
}

/** Encrypts `msg` for `receiveId`; returns the base64 ciphertext (the Encrypt field). */
export function encryptMessage(encodingAesKey: string, msg: string, receiveId: string, random16: Buffer = randomBytes(16)): string {
  const key = aesKeyOf(encodingAesKey);
  if (random16.length !== 16) throw new WxBizMsgCryptError(WXBIZ_ERRORS.EncryptAESError, 'random prefix must be 16 bytes');
  const body = Buffer.from(msg, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length, 0);
  const plain = pkcs7Pad(Buffer.concat([random16, len, body, Buffer.from(receiveId, 'utf8')]));
  try {
    const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
    cipher.setAutoPadding(false);
    return Buffer.concat([cipher.update(plain), cipher.final()]).toString('base64');
  } catch (err) {
    throw new WxBizMsgCryptError(WXBIZ_ERRORS.EncryptAESError, (err as Error).message);
  }
}

/** Decrypts an Encrypt field; checks the trailing receive id. Returns the message text. */
export function decryptMessage(encodingAesKey: string, encrypt: string, receiveId: string): string {
  const key = aesKeyOf(encodingAesKey);
  if (!encrypt || !BASE64.test(encrypt) || encrypt.length % 4 !== 0) {
    throw new WxBizMsgCryptError(WXBIZ_ERRORS.DecodeBase64Error);
  }
  const cipherText = Buffer.from(encrypt, 'base64');
  if (cipherText.length === 0 || cipherText.length % 16 !== 0) throw new WxBizMsgCryptError(WXBIZ_ERRORS.DecryptAESError, 'ciphertext length');
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-cbc', key, key.subarray(0, 16));
    decipher.setAutoPadding(false);
    plain = Buffer.concat([decipher.update(cipherText), decipher.final()]);
  } catch (err) {
    throw new WxBizMsgCryptError(WXBIZ_ERRORS.DecryptAESError, (err as Error).message);
  }
  const content = pkcs7Unpad(plain);
  if (content.length < 20) throw new WxBizMsgCryptError(WXBIZ_ERRORS.IllegalBuffer, 'plaintext too short');
  const msgLength = content.readUInt32BE(16);
  if (20 + msgLength > content.length) throw new WxBizMsgCryptError(WXBIZ_ERRORS.IllegalBuffer, 'length prefix beyond buffer');
  const msg = content.subarray(20, 20 + msgLength).toString('utf8');
  const fromReceiveId = content.subarray(20 + msgLength).toString('utf8');
  if (fromReceiveId !== receiveId) throw new WxBizMsgCryptError(WXBIZ_ERRORS.ValidateCorpidError);
  return msg;
}

/** URL verification (GET): checks msg_signature over echostr and returns the decrypted echostr. */
export function verifyUrl(cfg: WxBizConfig, msgSignature: string, timestamp: string, nonce: string, echostr: string): string {
  const expected = computeSignature(cfg.token, timestamp, nonce, echostr);
  if (!signatureMatches(expected, msgSignature)) throw new WxBizMsgCryptError(WXBIZ_ERRORS.ValidateSignatureError);
  return decryptMessage(cfg.encodingAesKey, echostr, cfg.receiveId);
}

const xmlParser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: true,
  processEntities: false,
});

/** Parses a WeCom XML document into its <xml> children (strings), or -40002. */
export function parseXml(xml: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = xmlParser.parse(xml, true);
  } catch (err) {
    throw new WxBizMsgCryptError(WXBIZ_ERRORS.ParseXmlError, (err as Error).message);
  }
  const root = (doc as { xml?: unknown })?.xml;
  if (!root || typeof root !== 'object') throw new WxBizMsgCryptError(WXBIZ_ERRORS.ParseXmlError, 'no <xml> root');
  return root as Record<string, unknown>;
}

/** Incoming POST: extracts Encrypt from the XML, checks the signature, decrypts; returns the inner XML text. */
export function decryptPostedXml(cfg: WxBizConfig, msgSignature: string, timestamp: string, nonce: string, postData: string): string {
  const outer = parseXml(postData);
  const encrypt = outer.Encrypt;
  if (typeof encrypt !== 'string' || !encrypt) throw new WxBizMsgCryptError(WXBIZ_ERRORS.ParseXmlError, 'no Encrypt element');
  const expected = computeSignature(cfg.token, timestamp, nonce, encrypt);
  if (!signatureMatches(expected, msgSignature)) throw new WxBizMsgCryptError(WXBIZ_ERRORS.ValidateSignatureError);
  return decryptMessage(cfg.encodingAesKey, encrypt, cfg.receiveId);
}

const cdata = (s: string) => `<![CDATA[${s.replaceAll(']]>', ']]]]><![CDATA[>')}]]>`;

/**
 * Encrypts a reply (passive response) and wraps it in WeCom's reply XML with its signature. Also what a
 * test peer uses to play WeCom: the posted XML has the same Encrypt element.
 */
export function encryptToXml(cfg: WxBizConfig, replyMsg: string, timestamp: string, nonce: string): { xml: string; encrypt: string; signature: string } {
  const encrypt = encryptMessage(cfg.encodingAesKey, replyMsg, cfg.receiveId);
  const signature = computeSignature(cfg.token, timestamp, nonce, encrypt);
  if (!/^\d+$/.test(timestamp)) throw new WxBizMsgCryptError(WXBIZ_ERRORS.GenReturnXmlError, 'timestamp must be digits');
  const xml =
    `<xml><Encrypt>${cdata(encrypt)}</Encrypt><MsgSignature>${cdata(signature)}</MsgSignature>` +
    `<TimeStamp>${timestamp}</TimeStamp><Nonce>${cdata(nonce)}</Nonce></xml>`;
  return { xml, encrypt, signature };
}
