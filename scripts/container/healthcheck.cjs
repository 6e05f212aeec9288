// Container health probe: exits 0 when GET /healthz on this container's port
// returns 200 with {"status":"ok"}, and 1 otherwise. It uses Node itself
// because slim base images have no curl or wget.
'use strict';

const http = require('node:http');

const TIMEOUT_MS = 4000;
const port = Number(process.env.PORT || 3000);

function fail(reason) {
  process.stderr.write(`healthcheck failed: ${reason}\n`);
  process.exit(1);
}

const request = http.get({ host: '127.0.0.1', port, path: '/healthz', timeout: TIMEOUT_MS }, (response) => {
  let body = '';
  response.setEncoding('utf8');
  response.on('data', (chunk) => {
    body += chunk;
  });
  response.on('end', () => {
    if (response.statusCode !== 200) {
      fail(`GET /healthz returned HTTP ${response.statusCode}`);
    }
    let status;
    try {
      status = JSON.parse(body).status;
    } catch {
      fail(`GET /healthz returned a body that is not JSON: ${body.slice(0, 200)}`);
    }
    if (status !== 'ok') {
      fail(`GET /healthz returned status ${JSON.stringify(status)}, expected "ok"`);
    }
    process.exit(0);
  });
});
request.on('timeout', () => request.destroy(new Error(`timed out after ${TIMEOUT_MS} ms`)));
request.on('error', (error) => fail(`GET http://127.0.0.1:${port}/healthz: ${error.message}`));
