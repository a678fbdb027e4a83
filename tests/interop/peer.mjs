// A js-libp2p peer for interop tests, with the command line and the JSON-lines events of
// `swarm node`, so a test can drive either one the same way:
//
//   node --import ./polyfill.mjs peer.mjs [--listen MA]... [--connect MA]... [--ping]
//        [--ping-interval S] [--key FILE] [--exit-after S]
//
// Events, one JSON object per line on stdout:
//   {"event":"listening","addr":"<multiaddr>/p2p/<id>"}
//   {"event":"connected","peer":ID,"addr":MA,"direction":"in|out"}
//   {"event":"identified","peer":ID,"agent":S,"protocols":[...],"listen_addrs":[...],"observed":MA}
//   {"event":"ping","peer":ID,"rtt_ms":N}                    (--ping: our own pings)
//   {"event":"disconnected","peer":ID}
//   {"event":"error","message":S[,"peer":ID]}
// and one event `swarm node` does not have:
//   {"event":"monitor","peer":ID,"rtt_ms":N} or {"event":"monitor","peer":ID,"error":S}
//     a ping by js-libp2p's connection monitor (every 10 s on every connection; a failed one
//     makes js abort the connection), seen through the metrics hook that libp2p calls for
//     every negotiated stream.
// Logs of js-libp2p itself go to stderr: DEBUG='libp2p:*' node ... shows them.
//
// gossipsub, with the same options and events as `swarm node` (docs/NODE.md), on only with
// --subscribe or --publish:
//   [--subscribe TOPIC]... [--publish TOPIC=TEXT]... [--publish-every MS] [--publish-count N]
//   [--settle MS] [--msg-id from-seqno|key-seqno|content]
//   --publish publishes TEXT ({n}: the publish number 1, 2, ...) --settle ms (default 1000)
//   after the first connection, then every --publish-every ms, --publish-count times (default
//   once, or without end with --publish-every). --msg-id picks the message-id function; both
//   implementations name them alike, and a mesh must agree on one.
//   {"event":"subscribed"|"unsubscribed","peer":ID,"topic":T}
//   {"event":"message","topic":T,"from":ID,"seqno":"N","data":S,"encoding":"utf-8"|"base64",
//    "received_from":ID}                    (seqno: a decimal string; received_from: the peer
//                                            that sent it to us)
//   {"event":"published","topic":T,"seqno":"N","data":S,"encoding":E,"peers":K}
//   {"event":"graft"|"prune","peer":ID,"topic":T,"direction":"in|out"}
//     the peer joined or left our mesh; "in" when it sent the GRAFT or PRUNE (swarm's have
//     no direction)
//   {"event":"error","message":"publish T: ..."}
//
// Extending: add an entry to FEATURES below: CLI options, libp2p services and a start function
// that gets the node and the emit function.

import { createHash } from 'node:crypto'
import { readFile, writeFile, mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { parseArgs } from 'node:util'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const PING_PROTOCOL = '/ipfs/ping/1.0.0'

/** Prints one event line. Writes to a file or a pipe stay in order. */
function emit (event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n')
}

function errText (err) {
  return err?.message ?? String(err)
}

// ---- features: each adds options, services and behaviour ---------------------------------

/** Our own pings (--ping): every connected peer once identified, then every --ping-interval s.
 * The connection monitor pings on its own whatever this says. */
const pingFeature = {
  options: {
    ping: { type: 'boolean', default: false },
    'ping-interval': { type: 'string', default: '10' }
  },
  // The monitor's ping streams count against the ping service's outbound limit (default 1 per
  // connection): with room for one, our ping and the monitor's collide, and the monitor aborts
  // the connection when its stream is refused.
  services: () => ({ ping: ping({ maxOutboundStreams: 4 }) }),
  start (node, args, ctx) {
    if (!args.ping) return
    const intervalMs = Number(args['ping-interval']) * 1000
    if (!(intervalMs > 0)) throw new Error(`bad --ping-interval ${args['ping-interval']}`)
    const pingOnce = async (peerId) => {
      const token = ctx.ownPingStarting(peerId)
      try {
        const rtt = await node.services.ping.ping(peerId, { signal: AbortSignal.timeout(10000) })
        emit('ping', { peer: peerId.toString(), rtt_ms: rtt })
      } catch (err) {
        emit('error', { peer: peerId.toString(), message: `ping: ${errText(err)}` })
      } finally {
        ctx.ownPingDone(token)
      }
    }
    node.addEventListener('peer:identify', (evt) => { pingOnce(evt.detail.peerId) })
    const timer = setInterval(() => {
      for (const peerId of node.getPeers()) pingOnce(peerId)
    }, intervalMs)
    ctx.onStop(() => clearInterval(timer))
  }
}

/** Text when it is valid UTF-8, else base64, as `swarm node` prints data. */
function dataFields (bytes) {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  try {
    return { data: new TextDecoder('utf-8', { fatal: true }).decode(buf), encoding: 'utf-8' }
  } catch {
    return { data: buf.toString('base64'), encoding: 'base64' }
  }
}

function seqnoBytes (seqno) {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(BigInt.asUintN(64, seqno))
  return b
}

/** Message ids by the names `swarm node --msg-id` uses. A mesh must agree on them, or IHAVE,
 * IWANT and IDONTWANT name ids the other side does not know. */
const MSG_ID = {
  // the binary peer id (multihash) of `from` + the 8-byte big-endian seqno (go's default)
  'from-seqno': (msg) => Buffer.concat([msg.from.toMultihash().bytes, seqnoBytes(msg.sequenceNumber)]),
  // the PublicKey protobuf + seqno: js's own default under StrictSign
  'key-seqno': (msg) => Buffer.concat([publicKeyToProtobuf(msg.from.publicKey ?? msg.key),
    seqnoBytes(msg.sequenceNumber)]),
  // SHA-256 of the data
  content: (msg) => createHash('sha256').update(msg.data).digest()
}

/** The seqno of our own publish in flight. js's publish() returns only the recipients, but it
 * computes the id of the message it has just built (seqno included) before sending it: the
 * msgIdFn wrapper notes the seqno of a message from us then. Messages of ours that come back
 * from peers also pass through msgIdFn, but js's seqnos count up, so only one above the last
 * publish's counts. Publishes run one at a time (see the start function). */
const ownSeqno = { self: null, seqno: null, last: -1n }
function noteOwnSeqno (msg) {
  if (ownSeqno.self == null || msg.type !== 'signed' || msg.sequenceNumber <= ownSeqno.last) return
  if (msg.from.toString() === ownSeqno.self) ownSeqno.seqno = msg.sequenceNumber
}
function takeOwnSeqno () {
  const s = ownSeqno.seqno
  if (s != null) ownSeqno.last = s
  ownSeqno.seqno = null
  return s
}

/** A whole number >= min from option name, or null when it is not given. */
function intOption (args, name, min) {
  if (args[name] == null) return null
  const v = Number(args[name])
  if (!Number.isSafeInteger(v) || v < min || !/^\d+$/.test(args[name])) {
    throw new Error(`--${name}: expected a whole number >= ${min}, got '${args[name]}'`)
  }
  return v
}

/** gossipsub, as `swarm node` runs it: only with --subscribe or --publish; StrictSign; js's
 * defaults otherwise (D 6, D_lo 4, D_hi 12, heartbeat 1 s, flood publishing). */
const gossipFeature = {
  options: {
    subscribe: { type: 'string', multiple: true, default: [] },
    publish: { type: 'string', multiple: true, default: [] },
    'publish-every': { type: 'string' },
    'publish-count': { type: 'string' },
    settle: { type: 'string', default: '1000' },
    'msg-id': { type: 'string', default: 'from-seqno' }
  },
  usage: '[--subscribe TOPIC]... [--publish TOPIC=TEXT]... [--publish-every MS] ' +
    '[--publish-count N] [--settle MS] [--msg-id from-seqno|key-seqno|content]',
  /** Checks the options; returns what start needs, or null when gossipsub is off. */
  config (args) {
    const pubs = args.publish.map((p) => {
      const i = p.indexOf('=')
      if (i <= 0) throw new Error(`--publish: expected TOPIC=TEXT, got '${p}'`)
      return { topic: p.slice(0, i), text: p.slice(i + 1) }
    })
    const every = intOption(args, 'publish-every', 1)
    const count = intOption(args, 'publish-count', 1)
    const settle = intOption(args, 'settle', 0)
    if ((every != null || count != null) && pubs.length === 0) {
      throw new Error('--publish-every and --publish-count need --publish')
    }
    const msgId = MSG_ID[args['msg-id']]
    if (msgId == null) {
      throw new Error(`--msg-id: expected from-seqno, key-seqno or content, got '${args['msg-id']}'`)
    }
    if (args.subscribe.length === 0 && pubs.length === 0) return null
    // each --publish: once without --publish-every, without end with it, unless --publish-count
    return { pubs, every, settle, msgId, limit: count ?? (every != null ? Infinity : 1) }
  },
  services (args) {
    const cfg = this.config(args)
    if (cfg == null) return {}
    return {
      pubsub: gossipsub({
        globalSignaturePolicy: 'StrictSign',
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        msgIdFn: (msg) => {
          noteOwnSeqno(msg)
          return cfg.msgId(msg)
        },
        // Peer scoring keeps its defaults but for P6, IP colocation: every test peer is on
        // 127.0.0.1, and with more than IPColocationFactorThreshold (10) peers on one IP each
        // scores -5 * (count - 10)^2, soon under gossipThreshold (-10) and publishThreshold
        // (-50), and js would stop gossiping and publishing to them. The address says nothing
        // here; weight 0 turns P6 off (a whitelist would hang on how js spells the address).
        scoreParams: { IPColocationFactorWeight: 0 }
      })
    }
  },
  start (node, args, ctx) {
    const cfg = this.config(args)
    if (cfg == null) return
    const ps = node.services.pubsub
    ps.addEventListener('subscription-change', (evt) => {
      for (const s of evt.detail.subscriptions) {
        emit(s.subscribe ? 'subscribed' : 'unsubscribed',
          { peer: evt.detail.peerId.toString(), topic: s.topic })
      }
    })
    // 'gossipsub:message' rather than 'message': it also says which peer sent it to us.
    ps.addEventListener('gossipsub:message', (evt) => {
      const { msg, propagationSource } = evt.detail
      emit('message', {
        topic: msg.topic,
        from: msg.from?.toString(),
        seqno: msg.sequenceNumber?.toString(),
        ...dataFields(msg.data),
        received_from: propagationSource?.toString()
      })
    })
    // As `swarm node`'s graft and prune events (the peer joined or left our mesh for topic),
    // plus who started it: "in" when the peer sent the GRAFT or PRUNE, "out" when we did.
    for (const kind of ['graft', 'prune']) {
      ps.addEventListener(`gossipsub:${kind}`, (evt) => {
        emit(kind, {
          peer: evt.detail.peerId.toString(),
          topic: evt.detail.topic,
          direction: evt.detail.direction === 'inbound' ? 'in' : 'out'
        })
      })
    }
    for (const t of args.subscribe) ps.subscribe(t)
    if (cfg.pubs.length === 0) return

    const self = node.peerId.toString()
    let round = 0
    let timer = null
    let queue = Promise.resolve() // one publish at a time, so the seqno noted is its own
    let stopped = false
    const publishOne = async (topic, data) => {
      if (stopped) return
      ownSeqno.self = self
      ownSeqno.seqno = null
      try {
        const res = await ps.publish(topic, data)
        const seqno = takeOwnSeqno()
        emit('published', {
          topic,
          ...(seqno != null ? { seqno: seqno.toString() } : {}),
          ...dataFields(data),
          peers: res.recipients.length
        })
      } catch (err) {
        takeOwnSeqno()
        emit('error', { message: `publish ${topic}: ${errText(err)}` })
      } finally {
        ownSeqno.self = null
      }
    }
    const publishRound = () => {
      round++
      for (const { topic, text } of cfg.pubs) {
        const data = new TextEncoder().encode(text.replaceAll('{n}', String(round)))
        queue = queue.then(() => publishOne(topic, data))
      }
      if (round >= cfg.limit && timer != null) {
        clearInterval(timer)
        timer = null
      }
    }
    // The first publish comes --settle ms after the first connection, in either direction.
    const onFirstConnection = () => {
      node.removeEventListener('connection:open', onFirstConnection)
      timer = setTimeout(() => {
        timer = null
        publishRound()
        if (cfg.every != null && round < cfg.limit) timer = setInterval(publishRound, cfg.every)
      }, cfg.settle ?? 1000)
    }
    node.addEventListener('connection:open', onFirstConnection)
    ctx.onStop(() => {
      stopped = true
      if (timer != null) {
        clearTimeout(timer)
        clearInterval(timer)
      }
    })
  }
}

const FEATURES = [pingFeature, gossipFeature]

// ---- the connection monitor, observed ------------------------------------------------------

/** Tells the connection monitor's pings apart from our own (both are outbound streams on the
 * ping protocol): each of our pings leaves a token for its peer that the next outbound ping
 * stream to that peer takes. If a monitor ping and ours start at the same moment they may swap
 * labels; both are pings on the same connection, so the counts stay right. */
function makeMonitorWatch (getNode) {
  const tokens = [] // { peer: string, taken: boolean }
  const connOfStream = (stream) =>
    getNode()?.getConnections().find((c) => c.streams.includes(stream))
  const watch = (stream) => {
    if (stream.direction !== 'outbound' || stream.protocol !== PING_PROTOCOL) return
    const conn = connOfStream(stream)
    if (conn == null) return
    const peer = conn.remotePeer.toString()
    const i = tokens.findIndex((t) => t.peer === peer && !t.taken)
    if (i >= 0) {
      tokens[i].taken = true
      tokens.splice(i, 1)
      return
    }
    stream.addEventListener('close', (evt) => {
      if (evt.error != null) emit('monitor', { peer, error: errText(evt.error) })
      else emit('monitor', { peer, rtt_ms: conn.rtt })
    }, { once: true })
  }
  return {
    watch,
    ownPingStarting (peerId) {
      const t = { peer: peerId.toString(), taken: false }
      tokens.push(t)
      return t
    },
    ownPingDone (t) {
      const i = tokens.indexOf(t)
      if (i >= 0) tokens.splice(i, 1)
    }
  }
}

/** A do-nothing metrics implementation whose trackProtocolStream reports to watch. libp2p calls
 * it for every stream once its protocol is negotiated, in both directions. */
function watchingMetrics (watch) {
  const metric = {
    update () {}, increment () {}, decrement () {}, reset () {}, observe () {},
    timer () { return () => {} }
  }
  return () => ({
    trackMultiaddrConnection () {},
    trackProtocolStream (stream) {
      try { watch(stream) } catch (err) { emit('error', { message: `monitor watch: ${errText(err)}` }) }
    },
    registerMetric () { return metric },
    registerMetricGroup () { return metric },
    registerCounter () { return metric },
    registerCounterGroup () { return metric },
    registerHistogram () { return metric },
    registerHistogramGroup () { return metric },
    registerSummary () { return metric },
    registerSummaryGroup () { return metric },
    createTrace () { return undefined },
    traceFunction (name, fn) { return fn }
  })
}

// ---- keys ------------------------------------------------------------------------------------

/** Reads a libp2p PrivateKey protobuf (the format `swarm node --key` uses), or makes a new
 * Ed25519 key and writes it there (mode 0600) when the file does not exist. */
async function loadOrCreateKey (path) {
  try {
    return privateKeyFromProtobuf(await readFile(path))
  } catch (err) {
    if (err.code !== 'ENOENT') throw new Error(`key ${path}: ${errText(err)}`)
  }
  const key = await generateKeyPair('Ed25519')
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  await writeFile(path, privateKeyToProtobuf(key), { mode: 0o600 })
  return key
}

// ---- main ------------------------------------------------------------------------------------

async function main () {
  const options = {
    listen: { type: 'string', multiple: true, default: [] },
    connect: { type: 'string', multiple: true, default: [] },
    key: { type: 'string' },
    'exit-after': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false }
  }
  for (const f of FEATURES) Object.assign(options, f.options)
  const { values: args } = parseArgs({ options, strict: true, allowPositionals: false })
  if (args.help) {
    process.stdout.write('usage: node --import ./polyfill.mjs peer.mjs [--listen MA]... ' +
      '[--connect MA]... [--ping] [--ping-interval S] [--key FILE] [--exit-after S]\n' +
      FEATURES.filter((f) => f.usage != null).map((f) => '       ' + f.usage + '\n').join(''))
    return 0
  }

  const stops = []
  let node
  const monitor = makeMonitorWatch(() => node)
  const ctx = {
    onStop: (fn) => stops.push(fn),
    ownPingStarting: monitor.ownPingStarting,
    ownPingDone: monitor.ownPingDone
  }
  const services = { identify: identify() }
  for (const f of FEATURES) Object.assign(services, f.services?.(args))

  node = await createLibp2p({
    privateKey: args.key != null ? await loadOrCreateKey(args.key) : undefined,
    addresses: { listen: args.listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // The monitor is on by default in libp2p 3.x; spelled out because the tests rely on it.
    connectionMonitor: { enabled: true, pingInterval: 10000, abortConnectionOnPingFailure: true },
    metrics: watchingMetrics(monitor.watch),
    services
  })

  node.addEventListener('connection:open', (evt) => {
    const c = evt.detail
    emit('connected', {
      peer: c.remotePeer.toString(),
      addr: c.remoteAddr.toString(),
      direction: c.direction === 'inbound' ? 'in' : 'out'
    })
  })
  node.addEventListener('connection:close', (evt) => {
    emit('disconnected', { peer: evt.detail.remotePeer.toString() })
  })
  node.addEventListener('peer:identify', (evt) => {
    const r = evt.detail
    emit('identified', {
      peer: r.peerId.toString(),
      agent: r.agentVersion ?? '',
      protocols: r.protocols ?? [],
      listen_addrs: (r.listenAddrs ?? []).map(String),
      observed: r.observedAddr?.toString() ?? null
    })
  })

  await node.start()
  for (const ma of node.getMultiaddrs()) emit('listening', { addr: ma.toString() })
  for (const f of FEATURES) f.start?.(node, args, ctx)

  let stopping = false
  const stop = async (code) => {
    if (stopping) return
    stopping = true
    for (const fn of stops) fn()
    try {
      await node.stop()
    } catch (err) {
      emit('error', { message: `stop: ${errText(err)}` })
    }
    process.stdout.write('', () => process.exit(code))
  }
  process.on('SIGINT', () => stop(0))
  process.on('SIGTERM', () => stop(0))
  if (args['exit-after'] != null) {
    const s = Number(args['exit-after'])
    if (!(s >= 0)) throw new Error(`bad --exit-after ${args['exit-after']}`)
    setTimeout(() => stop(0), s * 1000)
  }

  for (const addr of args.connect) {
    node.dial(multiaddr(addr), { signal: AbortSignal.timeout(15000) }).catch((err) => {
      emit('error', { message: `dial ${addr}: ${errText(err)}` })
    })
  }
  return null
}

main().then((code) => {
  if (code != null) process.exit(code)
}, (err) => {
  emit('error', { message: errText(err) })
  process.stdout.write('', () => process.exit(1))
})
