// bench/node_client.mjs - the Node clients of bench/fig_09_node.py. Nothing
// here knows about tokentap.
//   node node_client.mjs serve PORTFILE CERT KEY   HTTPS server of zeros (/bulk/N)
//   node node_client.mjs bulk URL BYTES WANT        https.get, prints bytes/s;
//        WANT=1|0: libtokentap.so must (not) be mapped in this process
//   node node_client.mjs calls N                    N+1 sequential keep-alive fetch
//        chat calls to MOCK_BASE (the first untimed); prints "bytes B seconds S"
import fs from 'node:fs';
import https from 'node:https';

const [mode, ...args] = process.argv.slice(2);

if (mode === 'serve') {
  const [portfile, cert, key] = args;
  const zeros = Buffer.alloc(1 << 20);
  const srv = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) },
    (req, res) => {
      let n = Number(req.url.split('/')[2]);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n });
      const more = () => {
        while (n > 0) {
          const k = Math.min(n, zeros.length);
          n -= k;
          if (!res.write(k === zeros.length ? zeros : zeros.subarray(0, k))) {
            res.once('drain', more);
            return;
          }
        }
        res.end();
      };
      more();
    });
  srv.listen(0, '127.0.0.1', () => {
    fs.writeFileSync(portfile + '.tmp', String(srv.address().port));
    fs.renameSync(portfile + '.tmp', portfile);
  });
} else if (mode === 'bulk') {
  const [url, bytes, want] = args;
  const mapped = fs.readFileSync('/proc/self/maps', 'utf8').includes('libtokentap.so');
  if (mapped !== (want === '1')) {
    console.error(`node_client: libtokentap.so ${mapped ? '' : 'not '}mapped, want ${want}`);
    process.exit(1);
  }
  const t0 = process.hrtime.bigint();
  https.get(url, { ca: fs.readFileSync(process.env.BULK_CA) }, (res) => {
    let n = 0;
    res.on('data', (d) => { n += d.length; });
    res.on('end', () => {
      const dt = Number(process.hrtime.bigint() - t0) / 1e9;
      if (n !== Number(bytes)) {
        console.error(`node_client: got ${n} bytes, want ${bytes}`);
        process.exit(1);
      }
      console.log((n / dt).toFixed(0));
    });
  });
} else if (mode === 'calls') {
  const n = Number(args[0]);
  const body = JSON.stringify({ model: 'gpt-4o-mini', temperature: 0.2, max_tokens: 64,
    messages: [{ role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Summarise: ' + 'lorem ipsum '.repeat(850) }] });
  const call = async () => {
    const r = await fetch(process.env.MOCK_BASE + '/v1/chat/completions', { method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench',
        'x-mock-chunks': process.env.MOCK_CHUNKS || '800' }, body });
    const t = await r.text();
    if (r.status !== 200) { console.error('bad response', r.status); process.exit(1); }
    return t.length;
  };
  const size = await call();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await call();
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`bytes ${size} seconds ${dt.toFixed(6)}`);
}
