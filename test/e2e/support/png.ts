/**
 * A minimal PNG reader for screenshot checks: 8-bit greyscale/RGB/RGBA (with or without alpha),
 * non-interlaced — what headless Chromium writes. Returns RGBA pixels.
 */
import { inflateSync } from 'node:zlib';

export interface Image {
  width: number;
  height: number;
  /** RGBA, row-major. */
  pixels: Uint8Array;
}

export function readPng(data: Buffer): Image {
  if (data.subarray(0, 8).toString('hex') !== '89504e470d0a1a0a') throw new Error('not a PNG');
  let pos = 8;
  let width = 0;
  let height = 0;
  let colorType = 0;
  const idat: Buffer[] = [];
  while (pos < data.length) {
    const len = data.readUInt32BE(pos);
    const type = data.subarray(pos + 4, pos + 8).toString('latin1');
    const body = data.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      const depth = body[8];
      colorType = body[9]!;
      if (depth !== 8 || body[12] !== 0) throw new Error(`unsupported PNG: depth ${depth}, interlace ${body[12]}`);
    } else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') break;
    pos += 12 + len;
  }
  const channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[colorType as 0 | 2 | 4 | 6];
  if (!channels) throw new Error(`unsupported PNG colour type ${colorType}`);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const out = new Uint8Array(width * height * 4);
  let prev = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const cur = new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? cur[i - channels]! : 0;
      const b = prev[i]!;
      const c = i >= channels ? prev[i - channels]! : 0;
      let v = line[i]!;
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      cur[i] = v & 0xff;
    }
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      const s = x * channels;
      if (channels === 1 || channels === 2) {
        out[o] = out[o + 1] = out[o + 2] = cur[s]!;
        out[o + 3] = channels === 2 ? cur[s + 1]! : 255;
      } else {
        out[o] = cur[s]!;
        out[o + 1] = cur[s + 1]!;
        out[o + 2] = cur[s + 2]!;
        out[o + 3] = channels === 4 ? cur[s + 3]! : 255;
      }
    }
    prev = cur;
  }
  return { width, height, pixels: out };
}

/** Pixels within `tolerance` (per channel) of an #rrggbb colour. */
export function countColor(img: Image, hex: string, tolerance = 24): number {
  const r = parseInt(hex.slice(1, 3), 16);
  const g = parseInt(hex.slice(3, 5), 16);
  const b = parseInt(hex.slice(5, 7), 16);
  let n = 0;
  for (let i = 0; i < img.pixels.length; i += 4) {
    if (Math.abs(img.pixels[i]! - r) <= tolerance && Math.abs(img.pixels[i + 1]! - g) <= tolerance && Math.abs(img.pixels[i + 2]! - b) <= tolerance) n++;
  }
  return n;
}

export function distinctColors(img: Image): number {
  const seen = new Set<number>();
  for (let i = 0; i < img.pixels.length; i += 4) seen.add((img.pixels[i]! << 16) | (img.pixels[i + 1]! << 8) | img.pixels[i + 2]!);
  return seen.size;
}
