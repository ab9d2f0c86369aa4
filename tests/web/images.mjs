// Small valid images generated in node for the web tests: PNGs with a
// gradient and a seed-dependent colour, so every one has its own content
// (the datalake stores a content once). No image library needed: a PNG is a
// signature, an IHDR, zlib-compressed scanlines (filter 0) and an IEND.
import { deflateSync } from 'node:zlib';

const CRC_TABLE = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** An RGB PNG of width x height whose pixels depend on seed; `noise` makes it incompressible (big). */
export function png(width, height, seed, noise = false) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  const raw = Buffer.alloc((width * 3 + 1) * height);
  const r0 = (seed * 67) % 256, g0 = (seed * 131) % 256, b0 = (seed * 29) % 256;
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    raw[row] = 0;
    for (let x = 0; x < width; x++) {
      const o = row + 1 + x * 3;
      raw[o] = (r0 + x * 4) & 255;
      raw[o + 1] = (g0 + y * 4) & 255;
      raw[o + 2] = (b0 + ((x ^ y) & (seed % 7 + 1)) * 16) & 255;
    }
  }
  if (noise) {
    let x = seed >>> 0 || 1;
    for (let i = 0; i < raw.length; i++) {
      if (i % (width * 3 + 1) === 0) continue; // keep the filter bytes
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      raw[i] = x & 255;
    }
  }
  // the seed itself in the first two pixels: distinct seeds, distinct contents
  if (width >= 2) {
    raw[1] = (seed >>> 24) & 255;
    raw[2] = (seed >>> 16) & 255;
    raw[3] = (seed >>> 8) & 255;
    raw[4] = seed & 255;
  }
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** A multipart/form-data body with one `file` field per {name, bytes}. */
export function multipart(files) {
  const boundary = '----cvops' + Math.random().toString(16).slice(2);
  const parts = [];
  for (const f of files) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${f.name}"\r\nContent-Type: application/octet-stream\r\n\r\n`));
    parts.push(f.bytes, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}
