import QRCode from 'qrcode';

/**
 * The PNG of a login QR code. Filter type 0 (none): pngjs otherwise tries all five row filters, which
 * costs seconds per image inside jest's sandbox and ~10x more CPU anywhere, for a few hundred bytes saved.
 */
export async function renderQrPng(content: string): Promise<Buffer> {
  return QRCode.toBuffer(content, { type: 'png', width: 240, margin: 2, rendererOpts: { filterType: 0 } } as QRCode.QRCodeToBufferOptions);
}
