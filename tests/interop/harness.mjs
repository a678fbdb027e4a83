// Small tools for the interop test scripts, so they need nothing but node (no jq):
//
//   node harness.mjs keygen FILE            new Ed25519 key in FILE (libp2p PrivateKey protobuf,
//                                           mode 0600, the format of `swarm node --key`);
//                                           prints its peer id
//   node harness.mjs count FILE EVENT [COND]...       how many events match
//   node harness.mjs get FILE EVENT FIELD [COND]...   FIELD of the first match (strings raw,
//                                                     anything else as JSON); exit 1 if none
//   node harness.mjs dups FILE EVENT KEY[,KEY]... [COND]...
//                                           how many matching events repeat the KEY fields
//                                           (e.g. from,seqno) of an earlier match
//   node harness.mjs delivered RECV PUB... [-- COND...]
//                                           gossipsub: checks that each "published" event in
//                                           the PUB files (RECV itself is skipped) is in RECV
//                                           as exactly one "message" event with the same topic,
//                                           seqno, data and encoding, from the publisher (the
//                                           /p2p/ id of its first "listening" address), and
//                                           matching the CONDs. Prints "PUBLISHED OK", then one
//                                           line per published message that is not
//                                           (PUBLISHED: how many; OK: how many were)
//   node harness.mjs wait SECS PID FILE EVENT [COND]...
//                                           waits until FILE has a match (exit 0); exit 1 at
//                                           the deadline, or once process PID is gone and
//                                           still no match (PID 0: no such check)
//   node harness.mjs waitn SECS PID FILE N EVENT [COND]...
//                                           the same, for at least N matches
//
// FILE holds one JSON object per line (the output of peer.mjs or `swarm node`); lines that are
// not JSON objects are skipped. COND is one of
//   key=value    the field equals value (as a string)
//   key^=prefix  the string field starts with prefix
//   key~=text    the string field contains text
//   key[]=item   the array field contains item
//   key:number   the field is a finite number
//   key:absent   the object has no such field

import { readFileSync, writeFileSync } from 'node:fs'

function parseCond (text) {
  let m
  if ((m = /^([\w.-]+)\[\]=(.*)$/s.exec(text)) != null) {
    return (o) => Array.isArray(o[m[1]]) && o[m[1]].some((x) => String(x) === m[2])
  }
  if ((m = /^([\w.-]+)\^=(.*)$/s.exec(text)) != null) {
    return (o) => typeof o[m[1]] === 'string' && o[m[1]].startsWith(m[2])
  }
  if ((m = /^([\w.-]+)~=(.*)$/s.exec(text)) != null) {
    return (o) => typeof o[m[1]] === 'string' && o[m[1]].includes(m[2])
  }
  if ((m = /^([\w.-]+)=(.*)$/s.exec(text)) != null) {
    return (o) => o[m[1]] !== undefined && o[m[1]] !== null && String(o[m[1]]) === m[2]
  }
  if ((m = /^([\w.-]+):number$/.exec(text)) != null) {
    return (o) => typeof o[m[1]] === 'number' && Number.isFinite(o[m[1]])
  }
  if ((m = /^([\w.-]+):absent$/.exec(text)) != null) {
    return (o) => !(m[1] in o)
  }
  throw new Error(`bad condition '${text}'`)
}

function events (file) {
  let text
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if (err.code === 'ENOENT') return []
    throw err
  }
  const out = []
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue
    try {
      const o = JSON.parse(line)
      if (o != null && typeof o === 'object' && !Array.isArray(o)) out.push(o)
    } catch {}
  }
  return out
}

function matching (file, event, conds) {
  const preds = conds.map(parseCond)
  return events(file).filter((o) => o.event === event && preds.every((p) => p(o)))
}

function alive (pid) {
  if (!(pid > 0)) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return err.code === 'EPERM'
  }
}

async function main (argv) {
  const [cmd, ...rest] = argv
  if (cmd === 'keygen' && rest.length === 1) {
    // imported here: count and get run often and should start fast
    const { generateKeyPair, privateKeyToProtobuf } = await import('@libp2p/crypto/keys')
    const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
    const key = await generateKeyPair('Ed25519')
    writeFileSync(rest[0], privateKeyToProtobuf(key), { mode: 0o600 })
    process.stdout.write(peerIdFromPrivateKey(key).toString() + '\n')
    return 0
  }
  if (cmd === 'count' && rest.length >= 2) {
    const [file, event, ...conds] = rest
    process.stdout.write(matching(file, event, conds).length + '\n')
    return 0
  }
  if (cmd === 'get' && rest.length >= 3) {
    const [file, event, field, ...conds] = rest
    const hit = matching(file, event, conds).find((o) => field in o)
    if (hit == null) return 1
    const v = hit[field]
    process.stdout.write((typeof v === 'string' ? v : JSON.stringify(v)) + '\n')
    return 0
  }
  if (cmd === 'dups' && rest.length >= 3) {
    const [file, event, keys, ...conds] = rest
    const fields = keys.split(',')
    const seen = new Set()
    let n = 0
    for (const o of matching(file, event, conds)) {
      const key = JSON.stringify(fields.map((f) => o[f] ?? null))
      if (seen.has(key)) n++
      else seen.add(key)
    }
    process.stdout.write(n + '\n')
    return 0
  }
  if (cmd === 'delivered' && rest.length >= 1) {
    const sep = rest.indexOf('--')
    const [recv, ...pubs] = sep >= 0 ? rest.slice(0, sep) : rest
    const preds = (sep >= 0 ? rest.slice(sep + 1) : []).map(parseCond)
    const got = events(recv).filter((o) => o.event === 'message')
    let total = 0
    let ok = 0
    const problems = []
    for (const pub of pubs) {
      if (pub === recv) continue
      const addr = events(pub).find((o) => o.event === 'listening' && typeof o.addr === 'string')?.addr
      const from = addr?.split('/p2p/')[1]
      const name = pub.split('/').pop()
      for (const p of events(pub).filter((o) => o.event === 'published')) {
        total++
        const what = `${name}: '${String(p.data).slice(0, 40)}' seqno ${p.seqno}`
        if (from == null || p.seqno == null) {
          problems.push(`${what}: ${from == null ? 'no listening address' : 'published without a seqno'}`)
          continue
        }
        const same = got.filter((o) => o.data === p.data && o.topic === p.topic)
        const n = same.filter((o) => o.from === from && o.seqno === p.seqno &&
          o.encoding === p.encoding && preds.every((f) => f(o))).length
        if (n === 1) ok++
        else problems.push(`${what}: delivered ${n} times (${same.length} with that topic and data)`)
      }
    }
    process.stdout.write(`${total} ${ok}\n` + problems.map((l) => l + '\n').join(''))
    return 0
  }
  if ((cmd === 'wait' && rest.length >= 4) || (cmd === 'waitn' && rest.length >= 5)) {
    const [secs, pid, file, ...more] = rest
    const min = cmd === 'waitn' ? Number(more.shift()) : 1
    const [event, ...conds] = more
    const deadline = Date.now() + Number(secs) * 1000
    const enough = () => matching(file, event, conds).length >= min
    enough() // a bad condition fails now, not at the deadline
    for (;;) {
      if (enough()) return 0
      if (!alive(Number(pid))) return enough() ? 0 : 1
      if (Date.now() >= deadline) return 1
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  process.stderr.write('usage: node harness.mjs keygen FILE | count FILE EVENT [COND]... | ' +
    'get FILE EVENT FIELD [COND]... | dups FILE EVENT KEY[,KEY]... [COND]... | ' +
    'delivered RECV PUB... [-- COND...] | wait SECS PID FILE EVENT [COND]... | ' +
    'waitn SECS PID FILE N EVENT [COND]...\n')
  return 2
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code }, (err) => {
  process.stderr.write(`harness: ${err.message}\n`)
  process.exitCode = 2
})
