// Starts an S3-compatible test server (npm @20minutes/s3rver, which checks
// SigV4 signatures) on 127.0.0.1 and a free port, with the bucket "cvops".
// Usage: node tests/s3server.js DIR PORTFILE
// Credentials the server accepts: S3RVER / S3RVER.
const S3rver = require('@20minutes/s3rver');
const fs = require('fs');
const [dir, portFile] = process.argv.slice(2);
fs.mkdirSync(dir, { recursive: true });
new S3rver({
  directory: dir,
  address: '127.0.0.1',
  port: 0,
  silent: true,
  configureBuckets: [{ name: 'cvops' }],
})
  .run()
  .then(({ port }) => fs.writeFileSync(portFile, String(port)))
  .catch((e) => { console.error(e); process.exit(1); });
