// The npm ws package as an independent WebSocket server for the transport's interop tests.
// Listens on 127.0.0.1 and a free port, prints "READY <port>", then serves by path (the same
// paths as ../python/server.py):
//   /echo, /stream/N, /feed/N, /fragments, /pings/N, /close/CODE, /invalid-utf8, /reserved-opcode,
//   /invalid-deflate
// Every connection prints "CLOSE <code>" with the client's close code when it ends.
//
// permessage-deflate (RFC 7692) is configured by the command line (the same options as
// ../python/server.py); without options ws's defaults apply:
//   --server-no-context-takeover   serverNoContextTakeover: true
//   --client-no-context-takeover   clientNoContextTakeover: true
//   --server-max-window-bits N     serverMaxWindowBits: N (9-15)
//   --client-max-window-bits N     clientMaxWindowBits: N (9-15; ws then refuses an offer without
//                                  client_max_window_bits: the handshake fails with 400)
//   --final-block                  every message the server sends ends its deflate data with a final
//                                  (BFINAL=1) block: a fresh raw deflater per message, ended with
//                                  Z_FINISH (RFC 7692 section 7.2.3.3 allows it); ws's own compressor
//                                  always sync-flushes, so this replaces its compress step
//   --no-deflate                   perMessageDeflate: false
//   --profile NAME=OPTION,...      also listen with these options on another port, announced as
//                                  "LISTEN NAME PORT" before READY (repeatable)
'use strict';
const zlib = require('zlib');
const { WebSocketServer } = require('ws');
// Not in ws's package exports: required by file path (the pinned version is in package-lock.json).
const PerMessageDeflate = require(require('path').join(require('path').dirname(require.resolve('ws')), 'lib', 'permessage-deflate.js'));

// Compress step for --final-block: one raw deflater per message; fragments before the last are
// sync-flushed (their 00 00 FF FF kept: RFC 7692 strips only at the message's end), the last is
// ended with Z_FINISH, so the message's data ends with a final block and nothing is stripped.
function compressWithFinalBlock(data, fin, callback) {
  if (!this._finalBlock) {
    const bits = typeof this.params.server_max_window_bits === 'number' ? this.params.server_max_window_bits : zlib.constants.Z_DEFAULT_WINDOWBITS;
    const deflate = zlib.createDeflateRaw({ windowBits: bits });
    const chunks = [];
    deflate.on('data', (chunk) => chunks.push(chunk));
    this._finalBlock = { deflate, chunks };
  }
  const { deflate, chunks } = this._finalBlock;
  const take = () => Buffer.concat(chunks.splice(0, chunks.length));
  if (fin) {
    this._finalBlock = null;
    deflate.on('end', () => callback(null, take()));
    deflate.end(data);
  } else {
    deflate.write(data);
    deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => callback(null, take()));
  }
}

// ws hands its perMessageDeflate options to each connection's PerMessageDeflate (this._options), so
// a listener configured with finalBlock: true gets the final-block compressor and the others ws's own.
const wsCompress = PerMessageDeflate.prototype._compress;
PerMessageDeflate.prototype._compress = function compress(data, fin, callback) {
  return (this._options.finalBlock ? compressWithFinalBlock : wsCompress).call(this, data, fin, callback);
};

// The perMessageDeflate option of ws for the command-line options in argv.
function deflateOptions(argv) {
  const flag = (name) => argv.includes(name);
  const number = (name) => {
    const i = argv.indexOf(name);
    return i < 0 ? undefined : Number(argv[i + 1]);
  };
  return flag('--no-deflate') ? false : {
    threshold: 0, // compress every message when the client offers deflate
    // undefined, not false, when absent: ws refuses a client's server_no_context_takeover request
    // when serverNoContextTakeover is false, and accepts it when undefined (its default).
    serverNoContextTakeover: flag('--server-no-context-takeover') || undefined,
    clientNoContextTakeover: flag('--client-no-context-takeover') || undefined,
    serverMaxWindowBits: number('--server-max-window-bits'),
    clientMaxWindowBits: number('--client-max-window-bits'),
    finalBlock: flag('--final-block'),
  };
}

// One listener with the options of argv; resolves with its port.
function listen(argv) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 0, perMessageDeflate: deflateOptions(argv) });
  wss.on('connection', handle);
  return new Promise((resolve) => wss.on('listening', () => resolve(wss.address().port)));
}

async function main() {
  const argv = process.argv.slice(2);
  const own = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--profile') {
      // --profile NAME=OPTION,OPTION,...: one more listener with those options, announced as
      // "LISTEN NAME PORT" (one process serves a whole test matrix).
      const spec = argv[++i];
      const eq = spec.indexOf('=');
      const name = eq < 0 ? spec : spec.slice(0, eq);
      const options = eq < 0 ? [] : spec.slice(eq + 1).split(',').filter((o) => o.length > 0);
      console.log(`LISTEN ${name} ${await listen(options)}`);
    } else {
      own.push(argv[i]);
    }
  }
  console.log(`READY ${await listen(own)}`);
}

function handle(ws, request) {
  const path = request.url;
  ws.on('close', (code) => console.log(`CLOSE ${code}`));
  ws.on('error', () => {});
  if (path === '/echo') {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  } else if (path.startsWith('/stream/')) {
    const n = Number(path.split('/')[2]);
    for (let i = 0; i < n; i++) ws.send(String(i).padStart(6, '0'));
    ws.close(1000, 'done');
  } else if (path.startsWith('/feed/')) {
    const n = Number(path.split('/')[2]);
    for (let i = 0; i < n; i++) ws.send(String(i).padStart(6, '0'));
  } else if (path === '/fragments') {
    let text = '';
    for (let i = 0; i < 100000 / 8; i++) text += String(i).padStart(5, '0') + '€';
    const chars = Array.from(text);
    for (let i = 0; i < chars.length; i += 1000) {
      ws.send(chars.slice(i, i + 1000).join(''), { fin: i + 1000 >= chars.length });
    }
    const data = Buffer.alloc(256 * 400);
    for (let i = 0; i < data.length; i++) data[i] = i % 256;
    for (let i = 0; i < data.length; i += 4096) {
      ws.send(data.subarray(i, i + 4096), { binary: true, fin: i + 4096 >= data.length });
    }
  } else if (path.startsWith('/pings/')) {
    const n = Number(path.split('/')[2]);
    let pongs = 0;
    ws.on('pong', () => { if (++pongs === n) console.log(`PONGS ${n}`); });
    for (let i = 0; i < n; i++) {
      ws.ping(Buffer.from(String(i)));
      ws.send(Buffer.alloc(1024, 120));
    }
  } else if (path.startsWith('/close/')) {
    ws.close(Number(path.split('/')[2]), 'bye');
  } else if (path === '/invalid-utf8') {
    ws._socket.write(Buffer.from([0x81, 0x04, 0x6f, 0x6b, 0xc3, 0x28]));
  } else if (path === '/invalid-deflate') {
    // After "before" is on the wire (ws compresses asynchronously): a compressed (RSV1) text frame
    // whose deflate data is a block of the reserved type 3.
    ws.send('before', () => ws._socket.write(Buffer.from([0xc1, 0x02, 0xff, 0xff])));
  } else if (path === '/reserved-opcode') {
    ws._socket.write(Buffer.from([0x83, 0x01, 0x00]));
  }
}

main();
