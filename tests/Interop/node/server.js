// The npm ws package as an independent WebSocket server for the transport's interop tests.
// Listens on 127.0.0.1 and a free port, prints "READY <port>", then serves by path (the same
// paths as ../python/server.py):
//   /echo, /stream/N, /fragments, /pings/N, /close/CODE, /invalid-utf8, /reserved-opcode
// Every connection prints "CLOSE <code>" with the client's close code when it ends.
'use strict';
const { WebSocketServer } = require('ws');

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  maxPayload: 0,
  perMessageDeflate: { threshold: 0 }, // compress every message when the client offers deflate
});

wss.on('listening', () => console.log(`READY ${wss.address().port}`));

wss.on('connection', (ws, request) => {
  const path = request.url;
  ws.on('close', (code) => console.log(`CLOSE ${code}`));
  ws.on('error', () => {});
  if (path === '/echo') {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  } else if (path.startsWith('/stream/')) {
    const n = Number(path.split('/')[2]);
    for (let i = 0; i < n; i++) ws.send(String(i).padStart(6, '0'));
    ws.close(1000, 'done');
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
  } else if (path === '/reserved-opcode') {
    ws._socket.write(Buffer.from([0x83, 0x01, 0x00]));
  }
});
